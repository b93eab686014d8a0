package app

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// allowedImports is the package table of docs/architecture.md: for each
// package of this module, the packages of this module it may import
// (tests aside). Keeping the table here makes the layering a rule rather
// than a description: a new import fails TestImports until the table, and
// the page, say it belongs.
var allowedImports = map[string][]string{
	"cmd/switchboard":          {"internal/app", "internal/config", "internal/bench", "client", "client/media"},
	"internal/app":             {"internal/config", "internal/auth", "internal/channel", "internal/controlplane", "internal/signaling", "internal/bus/memory", "internal/ice", "internal/console", "internal/devtls", "internal/fsutil", "internal/httpx", "internal/netpark", "internal/store", "internal/store/bolt", "internal/wsserver", "kvsapi"},
	"internal/config":          {"internal/channel", "internal/controlplane", "internal/devtls", "internal/signaling", "internal/ice", "internal/console", "internal/yamlerr"},
	"internal/bench":           {"client", "client/media", "kvsapi", "sigv4"},
	"internal/controlplane":    {"internal/auth", "internal/channel", "internal/httpx", "internal/ratelimit", "internal/store", "kvsapi"},
	"internal/signaling":       {"internal/bus", "internal/httpx", "internal/netpark", "internal/ratelimit", "internal/wsserver", "internal/tlsidle", "internal/yamlerr", "kvsapi"},
	"internal/console":         {"internal/httpx", "kvsapi"},
	"internal/ice":             {"internal/auth", "internal/ratelimit", "internal/store", "internal/yamlerr", "kvsapi"},
	"internal/ratelimit":       {},
	"internal/channel":         {"internal/store", "kvsapi"},
	"internal/auth":            {"sigv4", "kvsapi"},
	"internal/bus":             {},
	"internal/bus/memory":      {"internal/bus"},
	"internal/bus/bustest":     {"internal/bus"},
	"internal/store":           {},
	"internal/store/bolt":      {"internal/store", "internal/fsutil"},
	"internal/store/storetest": {"internal/store"},
	"internal/httpx":           {"kvsapi"},
	"internal/yamlerr":         {},
	"internal/wsserver":        {},
	"internal/netpark":         {},
	"internal/tlsidle":         {},
	"internal/devtls":          {"internal/fsutil"},
	"internal/fsutil":          {},
	"client":                   {"client/media", "kvsapi", "sigv4"},
	"client/media":             {},
	"kvsapi":                   {},
	"sigv4":                    {},
	"examples/master":          {"client", "client/media"},
	"examples/viewer":          {"client", "client/media"},
	"test/e2e":                 {},
	"internal/ice/icetest":     {},
	"internal/testbin":         {},
	"internal/testcert":        {},
}

// TestImports checks every package's imports of this module against
// allowedImports, and that every package is in the table.
func TestImports(t *testing.T) {
	module, graph := moduleImports(t)
	for pkg, imports := range graph {
		allowed, known := allowedImports[pkg]
		if !known {
			t.Errorf("%s is not in the package table (allowedImports here, docs/architecture.md)", pkg)
			continue
		}
		for _, imp := range imports {
			own, ok := strings.CutPrefix(imp, module+"/")
			if ok && !slices.Contains(allowed, own) {
				t.Errorf("%s imports %s, which the package table does not allow", pkg, own)
			}
		}
	}
	for pkg := range allowedImports {
		if _, ok := graph[pkg]; !ok {
			t.Errorf("the package table names %s, which no longer exists", pkg)
		}
	}
}

// moduleImports lists this module's packages with their (non-test)
// imports, keyed by path relative to the module.
func moduleImports(t *testing.T) (module string, graph map[string][]string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-C", root, "-f", "{{.Module.Path}} {{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	graph = map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		module = fields[0]
		pkg := strings.TrimPrefix(fields[1], module+"/")
		graph[pkg] = fields[2:]
	}
	if len(graph) == 0 {
		t.Fatal("go list found no packages")
	}
	return module, graph
}
