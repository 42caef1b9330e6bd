"""Fine-tuning on a benchmark's training split (the paper's second regime, Austin et al. 2021).

``progsynth finetune`` trains a LoRA adapter (or, optionally, every weight) on the training tasks in
the same prompt format the evaluation uses, keeps the checkpoint with the best validation loss,
resumes after an interruption and exports the adapter to GGUF so that llama.cpp evaluates the tuned
model at full speed beside its base. Modules:

* ``config``: the validated, frozen training configuration and the output directory's layout;
* ``data``: prompts and targets turned into token ids with the loss on the completion only;
* ``base``: the trainable base model (the embedded GGUF, dequantized once and cached);
* ``optim``: optimiser and learning-rate schedule;
* ``checkpoint``: the resumable training state;
* ``train``: the training loop;
* ``gguf_export``: a peft LoRA adapter as a llama.cpp GGUF adapter;
* ``gguf_model``: fully tuned (or merged) weights as a whole GGUF model, with the base's metadata;
* ``merge``: a LoRA folded into its base (a plain transformers checkpoint);
* ``results``: the typed summary and the loss curve;
* ``adapter``: what an output directory says about its adapter (and the trained-split check);
* ``serve``: llama.cpp with the adapter loaded, and base-vs-tuned runs through ``Run``;
* ``pipeline``: the whole command, end to end.

Heavy dependencies (torch, transformers, peft, gguf) are imported inside functions, so importing
this package (e.g. for ``adapter``) stays cheap.
"""
