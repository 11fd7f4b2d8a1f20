#!/usr/bin/env bash
# Read replicas in the fleet job, as a user runs it: the collection's playbooks on an inventory of a
# primary and its replica. replicas.yml asserts the order of the writes from the emulator's request
# log, a row written on the primary and read on the replica, a second run with no write, and the
# decommission (the replica before its primary).
set -eux
# the sibling target setup_request_log is a role of its own
export ANSIBLE_ROLES_PATH=..
ansible-playbook replicas.yml -e @../../integration_config.yml "$@"
