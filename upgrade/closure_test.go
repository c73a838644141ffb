package upgrade

import (
	"reflect"
	"testing"
)

func TestParseDiffClosures(t *testing.T) {
	out := `warning: Git tree '/tmp/x' is dirty
initrd-linux: 6.1.1 → 6.1.2
k3s: 1.28.1 → 1.28.2, +1024.0 KiB
linux: 6.1.1 → 6.1.2, -12.5 MiB
firefox: 120.0, 121.0 → 122.0, 123.0, +3.1 MiB
unit-nginx.service: ` + "\x1b[31;1m+10.2 KiB\x1b[0m" + `
zstd: ∅ → 1.5.5, +1.1 MiB
old-thing: 1.0 → ∅, -200.0 KiB
building '/nix/store/x.drv'...
`
	got := ParseDiffClosures(out)
	want := []Change{
		{Name: "initrd-linux", From: "6.1.1", To: "6.1.2"},
		{Name: "k3s", From: "1.28.1", To: "1.28.2", Size: "+1024.0 KiB"},
		{Name: "linux", From: "6.1.1", To: "6.1.2", Size: "-12.5 MiB"},
		{Name: "firefox", From: "120.0, 121.0", To: "122.0, 123.0", Size: "+3.1 MiB"},
		{Name: "unit-nginx.service", Size: "+10.2 KiB"},
		{Name: "zstd", From: "∅", To: "1.5.5", Size: "+1.1 MiB"},
		{Name: "old-thing", From: "1.0", To: "∅", Size: "-200.0 KiB"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	im := Classify(got)
	if !im.Reboot || !im.K3sRestart || !reflect.DeepEqual(im.Services, []string{"nginx.service"}) ||
		!reflect.DeepEqual(im.Packages, []string{"firefox", "old-thing", "zstd"}) ||
		im.Summary() != "reboot; k3s restart; restarts nginx.service; updates firefox, old-thing, zstd" {
		t.Fatalf("impact %+v: %s", im, im.Summary())
	}
	if im := Classify(nil); !im.Nothing() || im.Summary() != "nothing" {
		t.Fatalf("no changes: %+v", im)
	}
}

// FuzzParseDiffClosures: any output parses without a panic, into changes
// that have a name and a version change or a size.
func FuzzParseDiffClosures(f *testing.F) {
	f.Add("linux: 6.1.1 → 6.1.2, +1.0 KiB\nunit-x.service: +9.0 KiB\n")
	f.Add("a: ∅ → 1\nwarning: x\n\x1b[31;1m")
	f.Fuzz(func(t *testing.T, out string) {
		for _, c := range ParseDiffClosures(out) {
			if c.Name == "" || (c.From == "" && c.Size == "") {
				t.Fatalf("%q: %+v", out, c)
			}
			Classify([]Change{c}).Summary()
		}
	})
}
