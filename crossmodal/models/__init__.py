"""Networks: frozen RGB teachers, target-modality students (registered in ``student_registry``) and the Features contract."""
from crossmodal.models import audio, students  # noqa: F401  (registers the students)
