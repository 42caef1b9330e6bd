"""The paper's other experiments (fine-tuning, dialog, execution prediction, sweeps); see README.md."""
