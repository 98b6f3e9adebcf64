package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// maxExposure is the worst `systemd-analyze security` score the unit may
// have: 2.0 and below is rated "OK" (or better).
const maxExposure = 2.0

// directives parses the unit into section.key → values, in order.
func directives(t *testing.T, text string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("not a key=value line: %q", line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

func TestUnitHasTheSettingsOfTheProductionDaemon(t *testing.T) {
	d := directives(t, Unit())
	want := map[string][]string{
		"Service.Type":                    {"notify"},
		"Service.ExecStart":               {"/usr/local/bin/ledgerd serve"},
		"Service.WatchdogSec":             {"30s"},
		"Service.Restart":                 {"on-failure"},
		"Service.DynamicUser":             {"yes"},
		"Service.StateDirectory":          {"ledgerd"},
		"Service.UMask":                   {"0077"},
		"Service.EnvironmentFile":         {"-/etc/ledgerd/ledgerd.env"},
		"Service.CapabilityBoundingSet":   {""},
		"Service.AmbientCapabilities":     {""},
		"Service.NoNewPrivileges":         {"yes"},
		"Service.ProtectSystem":           {"strict"},
		"Service.ProtectHome":             {"yes"},
		"Service.PrivateTmp":              {"yes"},
		"Service.PrivateDevices":          {"yes"},
		"Service.ProtectKernelTunables":   {"yes"},
		"Service.ProtectKernelModules":    {"yes"},
		"Service.ProtectKernelLogs":       {"yes"},
		"Service.ProtectControlGroups":    {"yes"},
		"Service.ProtectClock":            {"yes"},
		"Service.ProtectHostname":         {"yes"},
		"Service.ProtectProc":             {"invisible"},
		"Service.ProcSubset":              {"pid"},
		"Service.RestrictAddressFamilies": {"AF_UNIX AF_INET AF_INET6"},
		"Service.RestrictNamespaces":      {"yes"},
		"Service.RestrictRealtime":        {"yes"},
		"Service.RestrictSUIDSGID":        {"yes"},
		"Service.LockPersonality":         {"yes"},
		"Service.MemoryDenyWriteExecute":  {"yes"},
		"Service.SystemCallArchitectures": {"native"},
		"Service.SystemCallFilter":        {"@system-service", "~@privileged @resources"},
		"Service.LoadCredential": {
			"fuse_client_id:/etc/ledgerd/credentials/fuse_client_id",
			"fuse_client_secret:/etc/ledgerd/credentials/fuse_client_secret",
			"webhook_secret:/etc/ledgerd/credentials/webhook_secret",
		},
		"Service.Environment": {
			"FUSE_CLIENT_ID_FILE=%d/fuse_client_id",
			"FUSE_CLIENT_SECRET_FILE=%d/fuse_client_secret",
			"LEDGERD_WEBHOOK_SECRET_FILE=%d/webhook_secret",
		},
		"Install.WantedBy": {"multi-user.target"},
	}
	for k, v := range want {
		if !slices.Equal(d[k], v) {
			t.Errorf("%s = %q, want %q", k, d[k], v)
		}
	}
	// ledgerd must reach Fuse: no IP allow list, no private network.
	for _, k := range []string{"Service.IPAddressDeny", "Service.PrivateNetwork"} {
		if len(d[k]) > 0 {
			t.Errorf("%s is set: ledgerd could not reach Fuse", k)
		}
	}
	// A secret never sits in the unit itself.
	for _, env := range d["Service.Environment"] {
		name, _, _ := strings.Cut(env, "=")
		if strings.HasSuffix(name, "_SECRET") || name == "FUSE_CLIENT_ID" {
			t.Errorf("Environment=%s: credentials go through LoadCredential= and *_FILE", env)
		}
	}
}

// systemdAnalyze returns the path of systemd-analyze. scripts/install-deps.sh
// installs it (Debian's systemd package), so under CI its absence fails;
// elsewhere the test skips with a note.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	return tool(t, "systemd-analyze", "systemd", "the unit checks")
}

// testableUnit writes the unit to a temporary directory, under its own
// name, with ExecStart pointing at an executable that exists here (this
// test binary): verify checks that the program exists, and
// /usr/local/bin/ledgerd need not on a build machine.
func testableUnit(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(Unit(), "ExecStart=/usr/local/bin/ledgerd serve", "ExecStart="+self+" serve", 1)
	if text == Unit() {
		t.Fatal("unit has no ExecStart=/usr/local/bin/ledgerd serve")
	}
	path := filepath.Join(t.TempDir(), "ledgerd.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	bin := systemdAnalyze(t)
	path := testableUnit(t)
	cmd := exec.Command(bin, "verify", path)
	cmd.Dir = filepath.Dir(path)
	out, err := cmd.CombinedOutput()
	// verify exits 0 on some problems (an unknown key is only "ignoring"),
	// so any output at all is a failure.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for ledgerd\.service: ([0-9]+(?:\.[0-9]+)?) (\S+)`)

func TestUnitIsRatedOKBySystemdAnalyzeSecurity(t *testing.T) {
	bin := systemdAnalyze(t)
	path := testableUnit(t)
	cmd := exec.Command(bin, "security", "--offline=true", "--no-pager", path)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = append(os.Environ(), "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security: %s %s", m[1], m[2])
	if score > maxExposure {
		t.Errorf("exposure %.1f %s, want at most %.1f (OK):\n%s", score, m[2], maxExposure, out)
	}
}
