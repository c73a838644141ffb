# The declarative repo: two hosts whose "systems" reference packages of
# the pkgs input, as a NixOS toplevel references its closure.
{
  inputs.pkgs.url = "git+file://@PKGS@";
  inputs.tools.url = "git+file://@TOOLS@";
  outputs = { self, pkgs, tools }: let
    system = "x86_64-linux";
    sys = host: deps: derivation { name = "nixos-system-${host}"; inherit system; builder = "/bin/sh";
      args = [ "-c" "echo ${builtins.concatStringsSep " " deps} > $out" ]; };
    l = pkgs.lib;
  in {
    nixosConfigurations = {
      web = { config.system.build.toplevel = sys "web" [ l.kernel l.initrd l.k3s l.nginx l.hello ]; };
      db = { config.system.build.toplevel = sys "db" [ l.kernel l.initrd l.hello ]; };
    };
  };
}
