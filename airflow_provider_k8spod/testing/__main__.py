from __future__ import annotations

import sys

from airflow_provider_k8spod.testing.cli import main

sys.exit(main())
