"""The end-to-end rig's fixtures for the security tests that run `sitrep serve`."""

from tests.e2e.conftest import fake_cloud, module_cloud, serve, signer, sitrep_env, sitrep_pool, workdir  # noqa: F401
