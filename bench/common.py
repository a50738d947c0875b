"""What every benchmark returns: a measured value beside the bound it is judged against."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Result:
    name: str
    value: float
    bound: float
    unit: str
    # "max": the value must stay at or under the bound (times); "min": at or over it (throughput).
    kind: Literal["max", "min"] = "max"
    note: str = ""

    @property
    def ratio(self) -> float:
        """value / bound for times, bound / value for throughput: <= 1.0 always means within the bound."""
        if self.kind == "max":
            return self.value / self.bound
        return self.bound / self.value if self.value else float("inf")

    @property
    def ok(self) -> bool:
        return self.ratio <= 1.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 4), "ok": self.ok}

    def line(self) -> str:
        verdict = "ok" if self.ok else "OVER"
        op = "<=" if self.kind == "max" else ">="
        return (
            f"{self.name}: {self.value:,.3f} {self.unit} (bound {op} {self.bound:,.3f} {self.unit}; "
            f"ratio {self.ratio:.3f} {verdict}){' - ' + self.note if self.note else ''}"
        )
