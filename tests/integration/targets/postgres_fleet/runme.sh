#!/usr/bin/env bash
# The fleet job as a user runs it: the collection's own playbooks, five services, forks 5, under the
# API's real rate limit (the emulator's default, 10 requests / 10 s). smoke.yml asserts what must
# hold, not how fast: no request refused with 429, no failed host, a second run with no write.
set -eux
# the sibling target setup_request_log is a role of its own
export ANSIBLE_ROLES_PATH=..
ansible-playbook smoke.yml -e @../../integration_config.yml "$@"
