"""The provider's ``airflow k8spod`` commands (registered through the provider info's ``cli`` key)."""
