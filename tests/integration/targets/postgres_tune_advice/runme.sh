#!/usr/bin/env bash
# The workload proof of docs/tuning.md ("Proven on a workload"): a workload whose sorts and hashes spill to
# temp files at the default work_mem, the postgres_tune role in check mode (the work_mem proposal with its
# evidence, nothing written) and for real, the workload again: the API's own insights show the temp blocks
# gone and the pattern faster; a second role run changes nothing.
set -eux
# the sibling target setup_request_log is a role of its own
export ANSIBLE_ROLES_PATH=..
ansible-playbook proof.yml -e @../../integration_config.yml "$@"
