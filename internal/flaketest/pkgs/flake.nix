# A flake input of packages named like a NixOS system's: a kernel, an
# initrd, k3s, a systemd unit; their versions (and the unit's size) come
# from versions.json, so updating this input changes them.
{
  outputs = { self }: let
    system = "x86_64-linux";
    v = builtins.fromJSON (builtins.readFile ./versions.json);
    mk = name: derivation { inherit name system; builder = "/bin/sh"; args = [ "-c" "echo ${name} > $out" ]; };
  in {
    lib = {
      kernel = mk "linux-${v.kernel}";
      initrd = mk "initrd-linux-${v.kernel}";
      k3s = mk "k3s-${v.k3s}";
      hello = mk "hello-${v.hello}";
      nginx = derivation { name = "unit-nginx.service"; inherit system; builder = "/bin/sh";
        args = [ "-c" "/usr/bin/head -c ${toString v.nginxUnitBytes} /dev/zero > $out" ]; };
    };
  };
}
