package layers

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ctimesh/ctimesh"

// layer of each product package, from DESIGN.md. Test-only helpers
// (internal/...) may import anything below node but are imported only by
// tests, commands and benchmarks.
var layer = map[string]int{
	"stix":     0,
	"envelope": 1,
	"trust":    2,
	"ledger":   2,
	"gossip":   2,
	"adminapi": 3,
	"quality":  3,
	"taxii":    3,
	"node":     4,
	// The harness sits between node and the commands: the demo and the
	// benchmark command run real federations through it.
	"internal/meshtest": 5,
	"cmd/ctinode":       6,
	"cmd/ctibench":      6,
}

func TestLayering(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for pkg, l := range layer {
		dir := filepath.Join(root, filepath.FromSlash(pkg))
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			// Tests may reach across (e.g. meshtest in a package's tests would
			// be a cycle anyway); the rule is for product code.
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			checked++
			fs := token.NewFileSet()
			ast, err := parser.ParseFile(fs, f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, imp := range ast.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(path, module+"/") {
					continue
				}
				dep := strings.TrimPrefix(path, module+"/")
				if strings.HasPrefix(dep, "internal/") && dep != "internal/meshtest" {
					continue // shared test-data helpers carry no product logic
				}
				dl, ok := layer[dep]
				if !ok {
					t.Errorf("%s imports %s, which has no layer in this test: add it", rel(root, f), dep)
					continue
				}
				switch {
				case dl == l && dep != pkg:
					t.Errorf("%s (layer %d) imports its sibling %s: siblings never import each other", rel(root, f), l, dep)
				case dl > l:
					t.Errorf("%s (layer %d) imports %s (layer %d): only lower layers may be imported", rel(root, f), l, dep, dl)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no files checked: wrong root?")
	}
	// Every product package must be in the table, so a new package cannot
	// dodge the rule by not being listed.
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg := filepath.ToSlash(rel(root, filepath.Dir(path)))
		if _, ok := layer[pkg]; !ok && !strings.HasPrefix(pkg, "internal/") {
			t.Errorf("package %s has no layer in this test: add it to the table", pkg)
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func rel(root, f string) string {
	r, err := filepath.Rel(root, f)
	if err != nil {
		return f
	}
	return r
}
