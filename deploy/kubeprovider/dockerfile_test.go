package kubeprovider

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile line, continuations joined.
type instruction struct{ op, args string }

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	line := ""
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if line == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(l, "\\"); ok {
			line += cont + " "
			continue
		}
		line += l
		op, args, _ := strings.Cut(line, " ")
		out = append(out, instruction{strings.ToUpper(op), strings.TrimSpace(args)})
		line = ""
	}
	return out
}

// TestDockerfile checks what can be checked of the graft image without a
// Docker daemon: a build stage on the module's Go version and a runtime
// stage; every COPY from the context names a file of the repository (the
// build context is its root) and every COPY --from an earlier stage and a
// file that stage built; the binary is static (CGO_ENABLED=0) and built from
// a package that exists; the image runs as a non-root user the binary it
// copied.
func TestDockerfile(t *testing.T) {
	const root = "../.."
	ins := parseDockerfile(t, "../kubernetes/Dockerfile")
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	stages := map[string][]string{} // stage name -> files its RUNs write with -o
	var names []string
	var final []instruction // the last stage's instructions
	built, static := false, false
	for _, in := range ins {
		switch in.op {
		case "FROM":
			f := strings.Fields(in.args)
			name := ""
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			}
			if len(names) == 0 && !strings.HasPrefix(f[0], "golang:"+string(goVersion[1])) {
				t.Errorf("build stage FROM %s, want golang:%s (go.mod)", f[0], goVersion[1])
			}
			names = append(names, name)
			final = nil
		case "RUN":
			cur := names[len(names)-1]
			for _, m := range regexp.MustCompile(`-o (\S+)`).FindAllStringSubmatch(in.args, -1) {
				stages[cur] = append(stages[cur], m[1])
			}
			if strings.Contains(in.args, "go build") {
				built = true
				static = strings.Contains(in.args, "CGO_ENABLED=0")
				pkg := strings.Fields(in.args)[len(strings.Fields(in.args))-1]
				if _, err := os.Stat(filepath.Join(root, pkg, "main.go")); err != nil {
					t.Errorf("go build of %s: no such main package", pkg)
				}
			}
		case "COPY":
			f := strings.Fields(in.args)
			from := ""
			if v, ok := strings.CutPrefix(f[0], "--from="); ok {
				from, f = v, f[1:]
			}
			for _, src := range f[:len(f)-1] {
				if from != "" {
					if !slices.Contains(names[:len(names)-1], from) || !slices.Contains(stages[from], src) {
						t.Errorf("COPY --from=%s %s: no earlier stage %s builds it", from, src, from)
					}
				} else if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("COPY %s: not in the build context (the repository root)", src)
				}
			}
		}
		final = append(final, in)
	}
	if len(names) < 2 {
		t.Errorf("%d stages, want a build stage and a runtime stage", len(names))
	}
	if !built || !static {
		t.Errorf("go build found %v, static (CGO_ENABLED=0) %v: want both", built, static)
	}
	user, entry, copied := "", "", []string{}
	for _, in := range final {
		switch in.op {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "COPY":
			f := strings.Fields(in.args)
			copied = append(copied, f[len(f)-1])
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("runtime USER %q, want a non-root user", user)
	}
	if !slices.ContainsFunc(copied, func(dst string) bool { return strings.Contains(entry, `"`+dst+`"`) }) {
		t.Errorf("ENTRYPOINT %s runs nothing the runtime stage copied (%v)", entry, copied)
	}
}
