"""The training engine: the loop, checkpoints, metrics and wandb logging, seeding, the teacher-output cache, torchrun."""
