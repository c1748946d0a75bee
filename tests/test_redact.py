"""Redaction hides secret values only: settings and the sentences around them stay readable."""

from __future__ import annotations

import pytest

from fleetbench.redact import REDACTED, redact_argv, redact_text, redact_value

READABLE = [
    "--use-service-account-credentials=true",                  # 1.3.3's evidence
    "--service-account-extend-token-expiration not set",       # 1.2.30's evidence
    "--service-account-extend-token-expiration=false",
    "--enable-bootstrap-token-auth=true",
    "--token-ttl=24h0m0s", "--token-ttl=15m", "--streaming-token-timeout=30s", "--max-token-count=3",
    "--token-auth-file=/etc/kubernetes/tokens.csv",            # a path, named as one
    "--token=/var/run/secrets/token",                          # a path, even under a secret name
    "flag --token on the command line of kubelet",
]
HIDDEN = {
    "--token=abcdef.0123456789abcdef": "abcdef.0123456789abcdef",
    "--token=s3cr3t-V4lue": "s3cr3t-V4lue",
    "--password hunter2 (from the unit file)": "hunter2",
    "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload": "eyJhbGciOiJSUzI1NiJ9.payload",
    "joined with abcdef.0123456789abcdef ok": "abcdef.0123456789abcdef",
    "ETCD_ROOT_PASSWORD=correcthorse": "correcthorse",
}


@pytest.mark.parametrize("text", READABLE)
def test_settings_and_sentences_stay_readable(text):
    assert redact_text(text) == text
    if " " not in text:                                        # a command line's word
        assert redact_argv((text,)) == (text,)


@pytest.mark.parametrize("text, secret", HIDDEN.items())
def test_literal_secrets_are_hidden(text, secret):
    assert secret not in redact_text(text) and REDACTED in redact_text(text)
    if text.startswith("--"):                                  # as a command line
        assert secret not in " ".join(redact_argv(tuple(text.split())))


def test_values_by_name():
    assert redact_value("ETCD_PEER_CLIENT_CERT_AUTH", "true") == "true"
    assert redact_value("--use-service-account-credentials", "true") == "true"
    assert redact_value("--token", "abcdef.0123456789abcdef") == REDACTED
    assert redact_value("ETCD_ROOT_PASSWORD", "hunter2") == REDACTED
    assert redact_argv(("kubeadm", "--token", "s3cr3t", "--password", "true")) == \
        ("kubeadm", "--token", REDACTED, "--password", "true")
