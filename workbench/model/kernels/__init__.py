"""The kernels the encoder's blocks call: attention, dropout, residual add (+ norm), masked-LM loss.

Each variant sits next to its plain reference; :mod:`workbench.model.kernels.choice` picks one set
(a frozen :class:`~workbench.model.kernels.choice.Kernels`) for a device type and a mode (compiled or
eager), once, when the model is built. The blocks hold that set and call it: no device or
``torch.compiler.is_compiling()`` checks in their forward passes. torch only: no file I/O, no Hydra.
"""
