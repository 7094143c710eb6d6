"""Exceptions raised by the package."""
from __future__ import annotations

__all__ = ["NotSeparableError", "ConvergenceError", "NoMinimizerError", "InfeasibleError", "NotSupportedError"]


class NotSeparableError(ValueError):
    """The max-margin classifier does not exist: gamma <= gamma_star.

    Attributes
    ----------
    gamma : float
        The overparameterisation ratio d/n that was asked for.
    gamma_star : float
        The separability threshold of the model (same intercept setting).
    """

    def __init__(self, gamma: float, gamma_star: float, intercept: bool = True):
        self.gamma = float(gamma)
        self.gamma_star = float(gamma_star)
        self.intercept = bool(intercept)
        kind = "with" if intercept else "without"
        if self.gamma_star != self.gamma_star:      # NaN: a finite sample, which has no threshold
            super().__init__(
                f"the training data are not linearly separable {kind} an intercept (d/n = {self.gamma:.6g}): "
                "no max-margin classifier exists for this sample"
            )
            return
        super().__init__(
            f"data are not linearly separable {kind} an intercept: gamma = {self.gamma:.6g} "
            f"<= gamma_star = {self.gamma_star:.6g}; the max-margin classifier needs gamma > gamma_star"
        )


class ConvergenceError(RuntimeError):
    """A solver stopped without meeting its tolerance.

    Attributes
    ----------
    residual : float
        The last scaled KKT residual.
    iterations : int
        Iterations spent.
    """

    def __init__(self, message: str, residual: float = float("nan"), iterations: int = 0):
        self.residual = float(residual)
        self.iterations = int(iterations)
        super().__init__(f"{message} (residual {self.residual:.3g} after {self.iterations} iterations)")


class NoMinimizerError(ValueError):
    """Unregularised training (lam = 0) has no minimiser at this gamma.

    For a loss without a finite zero (VS, logistic) or the hinge, the
    minimiser exists iff the data are not linearly separable, i.e. gamma <
    gamma_star; for the square loss iff there are fewer features than
    samples, gamma < 1.

    Attributes
    ----------
    gamma : float
    threshold : float
        gamma_star (VS, hinge) or 1 (square).
    """

    def __init__(self, gamma: float, threshold: float, reason: str):
        self.gamma = float(gamma)
        self.threshold = float(threshold)
        super().__init__(reason)


class InfeasibleError(ValueError):
    """No margins satisfy the constraints of :func:`~asymptotics.optimize_margins`.

    Attributes
    ----------
    reached : dict
        The constrained metrics at the best point found.
    """

    def __init__(self, message: str, reached: dict):
        self.reached = dict(reached)
        super().__init__(message)


class NotSupportedError(ValueError, NotImplementedError):
    """Input of a kind the function does not cover (e.g. a covariance model
    where only isotropic features are implemented): a ValueError naming the
    argument, like every input error of the package, and a
    NotImplementedError."""
