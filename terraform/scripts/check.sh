#!/usr/bin/env bash
# Terraform checked by Terraform: fmt, then init + validate of every module and
# example, then the `terraform test` plans. Runs offline against the AWS
# provider in a filesystem mirror, on a copy of terraform/ so that no
# .terraform directory or lock file lands in the work tree (the example's
# committed lock file is copied in and must match: -lockfile=readonly).
set -euo pipefail

TERRAFORM=${TERRAFORM:-/usr/local/bin/terraform}
MIRROR=${TF_PLUGIN_MIRROR:-/opt/tf-plugins}
here=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x "$TERRAFORM" ]; then
  echo "terraform-check: no terraform binary at $TERRAFORM (machines of this kind carry 1.11.4 there; set TERRAFORM to another path)" >&2
  exit 1
fi
if [ ! -d "$MIRROR/registry.terraform.io/hashicorp/aws" ]; then
  echo "terraform-check: no AWS provider in the filesystem mirror $MIRROR (set TF_PLUGIN_MIRROR)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugin-cache"
cat > "$work/cli.tfrc" <<RC
plugin_cache_dir = "$work/plugin-cache"
provider_installation {
  filesystem_mirror {
    path = "$MIRROR"
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
RC
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
# Fake credentials: the test plans never reach AWS, and nothing may use a
# real account by accident.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=eu-west-1
unset AWS_PROFILE AWS_SESSION_TOKEN

echo "terraform fmt -check -recursive"
"$TERRAFORM" fmt -check -recursive -diff "$here"

# The example's test compares its bridge configuration with the one the
# Kubernetes manifests ship, so that comes along.
mkdir -p "$work/repo/deploy"
cp -r "$here" "$work/repo/terraform"
cp -r "$here/../deploy/k8s" "$work/repo/deploy/k8s"
rm -rf "$work/repo/terraform/tests/__pycache__"
for dir in "$work"/repo/terraform/modules/* "$work"/repo/terraform/examples/*; do
  name=${dir#"$work/repo/terraform/"}
  lock=()
  [ -f "$here/$name/.terraform.lock.hcl" ] && lock=(-lockfile=readonly)
  echo "terraform init + validate: $name"
  (cd "$dir" && "$TERRAFORM" init -backend=false -no-color "${lock[@]}" >"$work/init.log" 2>&1) || {
    cat "$work/init.log" >&2
    exit 1
  }
  (cd "$dir" && "$TERRAFORM" validate -no-color)
  if compgen -G "$dir/tests/*.tftest.hcl" >/dev/null; then
    echo "terraform test: $name"
    (cd "$dir" && "$TERRAFORM" test -no-color)
  fi
done
