"""The sandbox: local fakes of every upstream Sitrep talks to, over real HTTP, with the upstreams'
own shapes (``../shared/fixtures/upstream/``). Used by the tests now and by ``sitrep demo``.

    scenario.py       the ``bad_deploy`` story, generated relative to now (``Scenario``), and the
                      ``ScenarioFeed`` that serves one or several stories side by side
    stories.py        the demo's other stories: memory leak, dependency failure, false alarm
    query.py          the bits of LogQL / PromQL / time formats the fakes understand
    faults.py         per-upstream fault injection (status, delay, hang, malformed) and ``FakeUpstream``
    upstreams.py      ``FakeLoki``, ``FakePrometheus``, ``FakeArgoCD``, ``FakeJaeger``
    slack_api.py      ``FakeSlack``: the Web API methods Sitrep uses, every call recorded
    anthropic_api.py  ``FakeAnthropic``: the Messages API, a competent model for the scenario
    server.py         ``Sandbox`` (all fakes in one ASGI app) and ``FakeCloud`` (served on a free port)
    signer.py         ``SlackSigner``: signed slash commands, events and interactivity requests

Run it alone with ``python -m bot.sandbox --port 8900 [--live] [--all]``.
"""
