"""A board session signed in at the identity provider ends when its access token does, unless it can
be renewed (a refresh token): the services would refuse it from then on."""

from __future__ import annotations

import time

from board.session import Sessions


def test_a_session_ends_when_its_access_token_expires_unrenewable_and_a_keys_only_when_idle():
    sessions = Sessions(idle_seconds=3600)
    by_token = sessions.open("eyJ.token.sig", "department", "ECON", "Erika Econ", "en", expires_at=time.time() + 60)
    by_key = sessions.open("oia_key", "coordinator", "OIA", None, "en")
    assert sessions.find(by_token.id) is by_token and sessions.find(by_key.id) is by_key

    by_token.expires_at = time.time() - 1
    assert sessions.find(by_token.id) is None
    assert sessions.find(by_token.id) is None  # gone, not only hidden
    assert sessions.find(by_key.id) is by_key

    renewable = sessions.open("eyJ.token.sig", "department", "ECON", None, "en", expires_at=time.time() - 1,
                              refresh_token="rt")
    assert sessions.find(renewable.id) is renewable  # the board renews it (board/oidc.py keep_fresh)
