"""A small but real ML pipeline, used by the demo and the docs.

- :class:`Dataset`: synthetic classification/regression data, generated locally.
- :class:`Features`: a MapInfra computing random-Fourier features per sample
  (computed once, shared by every experiment using the same features config).
- :class:`Ridge` / :class:`Logistic`: two model kinds (a discriminated union).
- :class:`Experiment`: a TaskInfra training one model on the features and
  returning its test metrics.
"""

from __future__ import annotations

import typing as tp

import numpy as np
import pydantic

from exca import MapInfra, TaskInfra


class Dataset(pydantic.BaseModel):
    """Synthetic data: ``n_samples`` raw vectors with a non-linear binary target."""

    model_config = pydantic.ConfigDict(extra="forbid")
    n_samples: int = pydantic.Field(2000, gt=10)
    dim: int = pydantic.Field(4, gt=0)
    noise: float = pydantic.Field(0.1, ge=0)
    seed: int = 0

    def raw(self, index: int) -> np.ndarray:
        """The raw vector of one sample (deterministic)."""
        rng = np.random.default_rng([self.seed, index])
        return rng.normal(size=self.dim)

    def target(self, index: int) -> float:
        """The label of one sample (0 or 1)."""
        x = self.raw(index)
        rng = np.random.default_rng([self.seed, index, 1])
        score = np.sin(x[0] * 2) + x[1] * x[2] + self.noise * rng.normal()
        return float(score > 0)


class Features(pydantic.BaseModel):
    """Random Fourier features of the raw samples, cached per sample."""

    model_config = pydantic.ConfigDict(extra="forbid")
    dataset: Dataset = Dataset()
    n_features: int = pydantic.Field(256, gt=0)
    bandwidth: float = pydantic.Field(2.0, gt=0)
    infra: MapInfra = MapInfra(version="1")

    def _projection(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(1234)
        w = rng.normal(scale=1.0 / self.bandwidth, size=(self.dataset.dim, self.n_features))
        b = rng.uniform(0, 2 * np.pi, size=self.n_features)
        return w, b

    @infra.apply(item_uid=str)
    def compute(self, indices: tp.Sequence[int]) -> tp.Iterator[np.ndarray]:
        """One float32 feature vector per sample index."""
        w, b = self._projection()
        for index in indices:
            x = self.dataset.raw(index)
            feats = np.sqrt(2.0 / self.n_features) * np.cos(x @ w + b)
            yield feats.astype(np.float32)


class Ridge(pydantic.BaseModel):
    """Ridge regression on the labels (``l2``: regularisation), thresholded at 0.5."""

    model_config = pydantic.ConfigDict(extra="forbid")
    name: tp.Literal["ridge"] = "ridge"
    l2: float = pydantic.Field(0.1, gt=0)

    def fit_predict(self, x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> np.ndarray:
        gram = x.T @ x + self.l2 * np.eye(x.shape[1])
        coef = np.linalg.solve(gram, x.T @ (y - y.mean()))
        return tp.cast(np.ndarray, (x_test @ coef + y.mean()) > 0.5)


class Logistic(pydantic.BaseModel):
    """Logistic regression trained by gradient descent (``l2``: weight decay)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    name: tp.Literal["logistic"] = "logistic"
    l2: float = pydantic.Field(0.1, ge=0)
    lr: float = pydantic.Field(5.0, gt=0)
    steps: int = pydantic.Field(300, gt=0)

    def fit_predict(self, x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> np.ndarray:
        coef = np.zeros(x.shape[1])
        bias = 0.0
        for _ in range(self.steps):
            p = 1 / (1 + np.exp(-(x @ coef + bias)))
            grad = p - y
            coef -= self.lr * ((x.T @ grad) / len(y) + self.l2 * coef)
            bias -= self.lr * float(grad.mean())
        return tp.cast(np.ndarray, (x_test @ coef + bias) > 0)


Model = tp.Annotated[Ridge | Logistic, pydantic.Field(discriminator="name")]


class Experiment(pydantic.BaseModel):
    """Train one model on the cached features; returns test metrics."""

    model_config = pydantic.ConfigDict(extra="forbid")
    features: Features = Features()
    model: Model = Ridge()
    test_ratio: float = pydantic.Field(0.25, gt=0, lt=1)
    infra: TaskInfra = TaskInfra(version="1")

    @infra.apply
    def run(self) -> dict[str, float]:
        """Trains and evaluates; the result is cached under the experiment's uid."""
        n = self.features.dataset.n_samples
        feats = np.stack(list(self.features.compute(range(n))))
        labels = np.array([self.features.dataset.target(i) for i in range(n)])
        n_test = int(n * self.test_ratio)
        pred = self.model.fit_predict(feats[n_test:], labels[n_test:], feats[:n_test])
        accuracy = float((pred == labels[:n_test]).mean())
        return {"accuracy": accuracy, "n_train": float(n - n_test), "n_test": float(n_test)}
