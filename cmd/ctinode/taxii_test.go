package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctimesh/ctimesh/taxii"
)

func runTaxii(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newTaxiiCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return out.String(), err
}

func exitCode(err error) int {
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if err != nil {
		return exitFailure
	}
	return 0
}

func TestTaxiiClientCommands(t *testing.T) {
	dir := t.TempDir()
	out, err := runTaxii(t, "client", "add", "--data", dir, "--name", "misp", "--max-tlp", "amber", "--group", "sector:energy", "--write")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret := lines[len(lines)-1]
	if !strings.HasPrefix(secret, "ctx1.") || !strings.Contains(out, "read-write") {
		t.Fatalf("add printed %q", out)
	}
	path := filepath.Join(dir, taxii.ClientsFileName)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("clients file: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(secret[len(secret)-20:])) {
		t.Fatal("secret stored in clear")
	}
	// The secret authenticates.
	reg, err := taxii.OpenClients(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := reg.Authenticate("Token " + secret); !ok || c.Name != "misp" || !c.Write {
		t.Fatalf("secret does not authenticate: %+v %v", c, ok)
	}

	out, err = runTaxii(t, "client", "add", "--data", dir, "--name", "opencti", "--max-tlp", "amber+strict", "--in-team", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var added struct {
		Name   string `json:"name"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.Secret == "" || added.Name != "opencti" {
		t.Fatalf("--json add: %q %v", out, err)
	}

	out, err = runTaxii(t, "client", "list", "--data", dir)
	if err != nil || !strings.Contains(out, "misp") || !strings.Contains(out, "opencti") || strings.Contains(out, "ctx1.") {
		t.Fatalf("list: %q %v", out, err)
	}
	out, err = runTaxii(t, "client", "list", "--data", dir, "--json")
	var list []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0]["name"] != "misp" {
		t.Fatalf("list --json: %q %v", out, err)
	}

	// Refusals and their exit codes.
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"client", "add", "--data", dir, "--name", "misp", "--max-tlp", "green"}, exitRefused},
		{[]string{"client", "add", "--data", dir, "--name", "x", "--max-tlp", "purple"}, exitUsage},
		{[]string{"client", "add", "--data", dir, "--name", "a b", "--max-tlp", "green"}, exitUsage},
		{[]string{"client", "add", "--data", dir, "--name", "g", "--max-tlp", "green", "--group", "Bad Group"}, exitUsage},
		{[]string{"client", "add", "--data", filepath.Join(dir, "missing"), "--name", "y", "--max-tlp", "green"}, exitUsage},
		{[]string{"client", "remove", "--data", dir, "--name", "nobody"}, exitNotFound},
	} {
		if _, err := runTaxii(t, c.args...); exitCode(err) != c.code {
			t.Errorf("%v: exit %d (%v), want %d", c.args, exitCode(err), err, c.code)
		}
	}

	if out, err := runTaxii(t, "client", "remove", "--data", dir, "--name", "misp"); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("remove: %q %v", out, err)
	}
	if _, err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Authenticate("Token " + secret); ok {
		t.Fatal("removed client still authenticates")
	}
}
