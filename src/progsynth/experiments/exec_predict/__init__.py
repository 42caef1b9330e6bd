"""Execution prediction (Austin et al., 2021, sec. 6): can a model say what a program returns?

For each MBPP task and assert, the call under test and the value the reference solution really
returns for it are computed in the sandbox (``facts``); the model sees the program in one of four
conditions (``prompts.Condition``) and completes a ``>>> call`` line with the value; the answer is
read as a literal only (``scoring``) and scored exactly and with numeric tolerance, per condition,
with 95% intervals over tasks (``results``). ``pipeline.exec_predict`` runs it all, resumably.
See README.md in this folder.
"""

from __future__ import annotations

from progsynth.experiments.exec_predict.facts import Fact, OutputKind, compute_facts
from progsynth.experiments.exec_predict.pipeline import ExecPredictConfig, ExecPredictOutput, exec_predict
from progsynth.experiments.exec_predict.prompts import Condition, build_prompt
from progsynth.experiments.exec_predict.results import ExecPredictResults

__all__ = ["Condition", "ExecPredictConfig", "ExecPredictOutput", "ExecPredictResults", "Fact", "OutputKind",
           "build_prompt", "compute_facts", "exec_predict"]
