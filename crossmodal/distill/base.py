"""The contract every distillation objective follows, and the registry of objective classes the trainer builds from."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from torch import Tensor, nn

from crossmodal.distill.options import accepted_options, named_errors, option_defaults
from crossmodal.models.features import Features, MapSpec
from crossmodal.registry import Registry


@dataclass(frozen=True)
class ObjectiveContext:
    """What an objective may need to size itself; filled in by the trainer from the built models.

    student_dim / teacher_dims: pooled feature sizes (one teacher dim per teacher).
    student_maps / teacher_maps: channels and stride of each stage map, shallow to deep (teacher: per
    teacher), as detectron2's ShapeSpec: map-based objectives read shapes instead of guessing them.
    teacher_num_classes: logits size of each teacher (None when a teacher has no logits).
    num_samples: rows in the training set, i.e. the memory-bank size M.
    student: the built student, for objectives that keep a momentum copy of it (None where there is none).
    """

    student_dim: int
    teacher_dims: list[int]
    num_samples: int
    student_maps: list[MapSpec] = field(default_factory=list)
    teacher_maps: list[list[MapSpec]] = field(default_factory=list)
    teacher_num_classes: list[int | None] = field(default_factory=list)
    student: nn.Module | None = None

    @property
    def student_map_channels(self) -> list[int]:
        return [spec.channels for spec in self.student_maps]

    @property
    def teacher_map_channels(self) -> list[list[int]]:
        return [[spec.channels for spec in maps] for maps in self.teacher_maps]


PRETRAIN = "pretrain"
DISTILL = "distill"


@dataclass(frozen=True)
class TeacherReads:
    """The teacher outputs an objective's forward pass reads: all that a teacher-output cache must keep.

    ``stages`` are indices into ``Features.maps`` (negative ones count from the deepest).
    """

    pooled: bool = False
    logits: bool = False
    stages: tuple[int, ...] = ()

    def __or__(self, other: TeacherReads) -> TeacherReads:
        return TeacherReads(self.pooled or other.pooled, self.logits or other.logits, tuple(dict.fromkeys(self.stages + other.stages)))



@dataclass(frozen=True)
class TrainingProgress:
    """Where training is, for objectives whose loss depends on it (warm-ups, two-stage methods).

    ``epoch`` counts from 1; ``step`` is the global optimiser step about to be taken, from 0.
    """

    epoch: int
    step: int
    steps_per_epoch: int
    epochs: int


class Objective(nn.Module):
    """A distillation loss: ``forward(student_out, teacher_outs, batch) -> {name: loss term}``.

    Subclasses declare their options as keyword-only constructor parameters with defaults
    (``__init__(self, ctx, *, option=default, ...)``): that signature is the option schema,
    checked before anything is built. ``teacher_outs`` holds one Features per teacher. The
    returned terms are already weighted; the trainer minimises their sum. State (memory banks,
    normaliser Z) is a buffer, so it travels in ``state_dict`` and therefore in checkpoints.

    Class attributes the trainer reads before building anything: ``needs_student_logits`` (give
    the student a classifier head over the teacher's classes) and ``trains_student`` (False: the
    objective has no terms, so the student keeps its initial weights).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    """How tables name the method (e.g. "Random init (none)")."""
    needs_student_logits: ClassVar[bool] = False
    trains_student: ClassVar[bool] = True
    paper_weight: ClassVar[float | None] = None
    """The loss weight the method's paper (or the CRD paper's comparison) ran, where the default differs
    or was chosen again: weight sweeps (``crossmodal.experiments.tuning``) multiply it, so a sweep does not
    move when a default changes."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: TrainingProgress | None = None

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """Every option this objective accepts and its default."""
        return option_defaults(cls)

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` converted to the defaults' types; an unknown or ill-typed option is an InputError."""
        with named_errors(cls.name):
            return accepted_options(cls.option_defaults(), options)

    @classmethod
    def build(cls, ctx: ObjectiveContext, options: dict[str, Any]) -> Objective:
        """The objective sized by ``ctx``; every error about its options or sizes names ``cls.name``."""
        checked = cls.check_options(options)
        with named_errors(cls.name):
            return cls(ctx, **checked)  # type: ignore[call-arg]  # every subclass takes (ctx, **options)

    def set_progress(self, progress: TrainingProgress) -> None:
        """Called by the trainer before every step."""
        self.progress = progress

    def phase(self, progress: TrainingProgress) -> str:
        """The training phase at ``progress``, recorded with every epoch: "distill", or "pretrain" first for two-stage methods.

        The phase follows from the epoch alone, so a resumed run is in the phase it stopped in.
        """
        return DISTILL

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        raise NotImplementedError

    def diagnostics(self) -> dict[str, float]:
        """Scalars worth logging beside the losses (e.g. positive/negative critic scores)."""
        return {}

    def teacher_reads(self) -> TeacherReads | None:
        """The teacher outputs ``forward`` reads (a teacher-output cache keeps only these); None: it may read any."""
        return None


def summed(terms: Iterable[Tensor]) -> Tensor:
    """Python's ``sum`` of one or more loss terms, typed as the Tensor it is (the builtin's start value is 0)."""
    return cast(Tensor, sum(terms))


def term_keys(name: str, count: int) -> list[str]:
    """Loss-term names for ``count`` teachers: ``name`` alone, or ``name/<i>`` per teacher."""
    return [name] if count == 1 else [f"{name}/{i}" for i in range(count)]


class PerTeacherObjective(Objective):
    """An objective that is ``beta`` times one term per teacher; subclasses write ``teacher_term``.

    Terms are keyed ``<name>`` (one teacher) or ``<name>/<i>``, and the trainer sums them, so an
    ensemble of teachers adds one term per member.
    """

    def __init__(self, ctx: ObjectiveContext, beta: float) -> None:
        super().__init__()
        self.beta = beta
        self.num_teachers = len(ctx.teacher_dims)

    def forward(self, student_out: Features, teacher_outs: list[Features], batch: dict[str, Any]) -> dict[str, Tensor]:
        if len(teacher_outs) != self.num_teachers:
            raise ValueError(f"{type(self).__name__} was built for {self.num_teachers} teachers but got {len(teacher_outs)} outputs")
        keys = term_keys(self.name, len(teacher_outs))
        return {key: self.beta * self.teacher_term(i, student_out, out) for i, (key, out) in enumerate(zip(keys, teacher_outs))}

    def teacher_term(self, teacher: int, student_out: Features, teacher_out: Features) -> Tensor:
        """The unweighted loss against teacher number ``teacher``."""
        raise NotImplementedError


class ObjectiveRegistry(Registry[type[Objective]]):
    """Objective classes by name; registering a class also records its name on it (for messages)."""

    def register(self, name: str) -> Callable[[type[Objective]], type[Objective]]:
        add = super().register(name)

        def register_class(cls: type[Objective]) -> type[Objective]:
            cls.name = name
            return add(cls)

        return register_class


OBJECTIVES = ObjectiveRegistry("objective")
