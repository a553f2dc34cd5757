"""The node: the kubelet, the container runtime (local processes), images, container environment, logs and pod status."""
