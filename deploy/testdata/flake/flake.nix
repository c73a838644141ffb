# An offline flake: each host's "system" is a derivation of the repo's
# version file; the deploy app sets the host's profile (under
# $DEPLOY_PROFILES) to it, so every deploy is a real generation.
{
  outputs = { self }: let
    system = "x86_64-linux";
    version = builtins.readFile ./version;
    sys = host: derivation { name = "${host}-system"; inherit system; builder = "/bin/sh"; args = [ "-c" "echo ${host} ${version} > $out" ]; };
    script = derivation { name = "deploy"; inherit system; builder = "/bin/sh";
      args = [ "-c" ''
        echo '#!/bin/sh' > $out
        echo 'set -e' >> $out
        echo 'case "$1" in web) p=${sys "web"};; nas) p=${sys "nas"};; *) echo "unknown host $1"; exit 2;; esac' >> $out
        echo 'echo building $1 token=hunter2-secret-value' >> $out
        echo 'nix-env -p "$DEPLOY_PROFILES/$1" --set "$p"' >> $out
        echo 'echo deployed $1 $p' >> $out
        /bin/chmod +x $out
      '' ]; };
  in {
    nixosConfigurations = { web = {}; nas = {}; };
    packages.${system} = { web = sys "web"; nas = sys "nas"; };
    apps.${system}.deploy = { type = "app"; program = "${script}"; };
  };
}
