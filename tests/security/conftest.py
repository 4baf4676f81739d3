"""The end-to-end rig's fixtures for the security tests that run `sitrep serve`."""

from tests.e2e.conftest import fake_cloud, signer, sitrep_env, workdir  # noqa: F401
