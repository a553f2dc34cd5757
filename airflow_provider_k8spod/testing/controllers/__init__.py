"""The control-plane controllers: the scheduler (and, as they come, the volume binder and the node lifecycle controller)."""
