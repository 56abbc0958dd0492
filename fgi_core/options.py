"""The options of the FGI method (docs/method.md §4, docs/fidelity.md §2), in one frozen dataclass.

:class:`FGIOptions` holds every switch and weight of the teacher-student training; its defaults
are the paper's text. The named option sets and each profile's options live in
:mod:`fgi_core.config` (``PAPER_TEXT_OPTIONS``, ``AUTHORS_CODE_OPTIONS``, ``Profile.fgi``).

This module imports no torch (``import fgi_core.config`` stays light): the allowed values of the
named options are plain tuples here. The loss names repeat the registry of
:mod:`fgi_core.losses` (tests/test_structure.py checks that they agree); DARM's choices live
here and :mod:`fgi_core.augment` reads them from here.

Example:
    >>> opts = FGIOptions(teacher_loss="bce", darm_source="labels")
    >>> opts.teacher_loss, opts.darm_ratio, opts.rampup_length
    ('bce', 0.3, 4000)
    >>> FGIOptions(teacher_loss="pcee")
    Traceback (most recent call last):
    ...
    ValueError: Unknown teacher_loss 'pcee'; allowed: bce, pce. Did you mean 'pce'?
"""
from __future__ import annotations

from dataclasses import dataclass

from .registry import look_up_option

__all__ = ["FGIOptions", "option_choices", "TEACHER_LOSSES", "STUDENT_LOSSES", "DARM_TARGETS", "DARM_BUDGETS"]

#: The supervised losses each network may be trained with: ``list_losses("teacher")`` and
#: ``list_losses("student")`` of :mod:`fgi_core.losses`, written out (sorted) to need no torch.
TEACHER_LOSSES = ("bce", "pce")
STUDENT_LOSSES = ("bce", "ce")
#: What M_bc becomes inside DARM's blocks (:func:`fgi_core.augment.darm`).
DARM_TARGETS = ("background", "ignore", "keep")
#: How DARM's 30 % budget is counted: per ``image`` or over the ``batch`` (the authors').
DARM_BUDGETS = ("image", "batch")


@dataclass(frozen=True)
class FGIOptions:
    """Every option of docs/method.md §4 and docs/fidelity.md (defaults: the paper's text).

    Attributes:
        teacher_loss: ``pce`` (paper) or ``bce`` (authors' code); any loss of
            :func:`fgi_core.losses.list_losses` ``("teacher")``.
        student_loss: ``ce`` (paper) or ``bce`` (authors' code); any of ``list_losses("student")``.
            A network trained with
            ``bce`` is read as ``sigmoid(channel 1)`` everywhere (validation, DARM's
            disagreement set, CWC, prediction), one trained with ``pce`` / ``ce`` with the
            softmax over both channels (:func:`fgi_core.models.foreground_probability`).
        darm_source: ``predictions`` (teacher vs student, paper) or ``labels`` (M_hc vs M_bc, code).
        darm_target: what M_bc becomes inside DARM's blocks: ``background`` (default: the
            authors' code, and the paper applies DARM to M_bc before the loss), ``ignore``
            (left out of the loss; in neither source, this project's earlier default) or
            ``keep`` (unchanged: only the image is masked).
        darm_ratio: share of the disagreement set to mask (0.3).
        darm_budget: ``image`` (30 % of U per image, union area, uniform odd sides 3..11) or
            ``batch`` (the authors': 30 % of U over the batch, block areas summed, their sides).
        teacher_mode: ``joint`` (both networks updated, CWC both ways) or ``frozen``.
        teacher_init: ``stage1`` (start from notebook 03's teacher) or ``scratch`` (code).
        use_darm, use_afc, use_cwc, fusion: switches for the ablations (fusion=False: no text).
        cwc_both_ways: teacher <- student as well as student <- teacher (code: both).
        cwc_teacher_target: the student prediction the teacher's CWC target comes from:
            ``masked`` (the authors': on the DARM-masked image the student trains on) or
            ``clean`` (on the clean image; one more student forward pass).
        perturb: CWC on inputs with uniform noise U(-0.2, 0.2) and CutMix (code: yes).
        cwc_mix: ``independent`` (the authors': each direction its own noise, random pairing
            and one CutMix box per sample, :func:`fgi_core.augment.cutmix_pairs`) or ``shared``
            (one noise draw and one box for the batch, paired with the previous image,
            :func:`fgi_core.augment.cutmix`).
        cwc_readout: how CWC reads both networks: ``activation`` (each as it was trained, see
            ``student_loss``) or ``softmax`` (the authors' ``crc_loss``: softmax over both
            channels even for BCE-trained networks, whose channel 0 then learns from CWC alone).
        lambda_afc: 0.05 effective (README of the code says 0.1, the code halves it).
        lambda_cwc: 1.0.
        tau_pos, tau_neg: CWC thresholds 0.8, 0.2.
        rampup_length: T of the consistency ramp-up w(t) = exp(-5 (1 - min(t, T)/T)^2), in
            absolute iterations (docs/method.md §4.7: 4,000 in the authors' code). It belongs to
            the method, not to the run's length: no profile derives it from its iterations;
            only ``quick`` (synthetic, 150 iterations) sets a short ramp of its own (50).
    """

    teacher_loss: str = "pce"
    student_loss: str = "ce"
    darm_source: str = "predictions"
    darm_target: str = "background"
    darm_ratio: float = 0.3
    darm_budget: str = "image"
    teacher_mode: str = "joint"
    teacher_init: str = "stage1"
    use_darm: bool = True
    use_afc: bool = True
    use_cwc: bool = True
    fusion: bool = True
    cwc_both_ways: bool = True
    cwc_teacher_target: str = "masked"
    perturb: bool = True
    cwc_mix: str = "independent"
    cwc_readout: str = "activation"
    lambda_afc: float = 0.05
    lambda_cwc: float = 1.0
    tau_pos: float = 0.8
    tau_neg: float = 0.2
    rampup_length: int = 4000

    def __post_init__(self) -> None:
        for name, allowed in option_choices().items():  # in this order, so the first bad one is named
            look_up_option(getattr(self, name), allowed, name)
        if self.use_darm and self.darm_target == "ignore" and not self._supervision("student").ignores:
            raise ValueError(f"student_loss={self.student_loss!r} has no ignore mask: use darm_target='background' "
                             "(the authors' code) or 'keep' with it")

    def _supervision(self, role: str):
        """The registry's :class:`~fgi_core.losses.SupervisedLoss` of ``role``'s loss.

        The registry is the one home of a loss's activation and of whether it can ignore pixels;
        it needs torch, so it is imported here, when asked, not when the options are made.
        """
        from .losses import supervised_loss

        return supervised_loss(getattr(self, f"{role}_loss"), role)

    @property
    def teacher_activation(self) -> str:
        """How the teacher's output is read: ``sigmoid`` after BCE training, else ``softmax``."""
        return self._supervision("teacher").activation

    @property
    def student_activation(self) -> str:
        """How the student's output is read: ``sigmoid`` after BCE training, else ``softmax``."""
        return self._supervision("student").activation


def option_choices() -> dict[str, tuple[str, ...]]:
    """The allowed values of each named option of :class:`FGIOptions`."""
    return {
        "teacher_loss": TEACHER_LOSSES,
        "student_loss": STUDENT_LOSSES,
        "darm_source": ("predictions", "labels"),
        "darm_target": DARM_TARGETS,
        "darm_budget": DARM_BUDGETS,
        "cwc_teacher_target": ("masked", "clean"),
        "cwc_mix": ("independent", "shared"),
        "cwc_readout": ("activation", "softmax"),
        "teacher_mode": ("joint", "frozen"),
        "teacher_init": ("stage1", "scratch"),
    }
