"""The end-to-end rig's fixtures (a fake cloud, Sitrep's environment, a work directory) for the
fault tests that run `sitrep serve`."""

from tests.e2e.conftest import fake_cloud, signer, sitrep_env, workdir  # noqa: F401
