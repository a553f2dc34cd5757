"""Task decorators: ``@task.kubernetes`` and ``@task.kubernetes_cmd`` (registered in the provider info)."""
