"""What the machine can do: CPU features (native bf16) that decide ``hardware.precision=auto``."""
