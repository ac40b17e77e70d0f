package main

// --- 7. several images: bake vs sequential buildctl -------------------------
//
// Four images that share a base stage, built in one remote-buildkit step
// (`bake: docker-bake.hcl`) against four `buildctl build` runs one after the
// other on the same daemon. Every run of either tool gets its own NONCE, so
// neither finds the other's (or its own earlier) work in the daemon's cache;
// within one run the four images share the base stage's NONCE, as one
// commit's images would.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const bakeImages = 4

// bakeDockerfile: %[1]s the base image, %[2]d the image's number, %[3]s
// the image's own step. The base stage writes and hashes 40 MB (about 1 s
// on the stack).
const bakeDockerfile = `FROM %[1]s AS base
ARG NONCE
RUN echo "$NONCE" > /nonce && mkdir /base && i=0 && while [ $i -lt 40 ]; do head -c 1048576 /dev/urandom > /base/$i && sha256sum /base/$i >> /base.sum; i=$((i+1)); done && rm -r /base && head -c 2097152 /dev/urandom > /base.bin
FROM base
ARG NONCE
RUN echo "image %[2]d $NONCE" > /image && %[3]s
`

// The images' own steps: CPU-bound (hashing 8 MB: on 2 cores, four at once
// gain little) and wait-bound (a 1 s wait standing for a package download,
// the usual per-service step of a monorepo).
const (
	bakeCPUStep  = `mkdir /own && i=0 && while [ $i -lt 8 ]; do head -c 1048576 /dev/urandom > /own/$i && sha256sum /own/$i >> /own.sum; i=$((i+1)); done && rm -r /own && head -c 524288 /dev/urandom > /own.bin`
	bakeWaitStep = `sleep 1 && head -c 524288 /dev/urandom > /own.bin`
)

// bakeFixture writes the four contexts and the bake file into a temp dir.
func bakeFixture(image, step string) string {
	dir, err := os.MkdirTemp("", "bench-bake-")
	must(err)
	var hcl strings.Builder
	var names []string
	for i := 0; i < bakeImages; i++ {
		names = append(names, fmt.Sprintf("%q", fmt.Sprintf("img%d", i)))
		ctx := filepath.Join(dir, fmt.Sprintf("img%d", i))
		must(os.MkdirAll(ctx, 0o755))
		must(os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(fmt.Sprintf(bakeDockerfile, stackEnv("STACK_BASE_IMAGE"), i, step)), 0o644))
		fmt.Fprintf(&hcl, "target \"img%[1]d\" {\n  context = \"img%[1]d\"\n  args = { NONCE = NONCE }\n  tags = [\"%[2]s-img%[1]d:ours\"]\n}\n", i, image)
	}
	head := fmt.Sprintf("variable \"NONCE\" { default = \"\" }\ngroup \"default\" { targets = [%s] }\n", strings.Join(names, ", "))
	must(os.WriteFile(filepath.Join(dir, "docker-bake.hcl"), []byte(head+hcl.String()), 0o644))
	return dir
}

func bakeWall(notes *[]string) {
	bakeRow("CPU-bound own steps", bakeCPUStep)
	bakeRow("wait-bound own steps", bakeWaitStep)
	bakeNote(notes)
	*notes = append(*notes, "Bake, wait-bound variant: the same four images with each image's own `RUN` a 1 s `sleep` (standing for a package download) plus a 512 KB write instead of hashing 8 MB; everything else as above. With CPU-bound own steps the 2 cores bound the gain (four hashes at once take about half as long as four in a row); with wait-bound ones the targets overlap fully.")
}

// bakeRow measures one variant of the bake benchmark.
func bakeRow(kind, step string) {
	host, tls, buildctl := stackEnv("STACK_BUILDKIT_HOST"), stackEnv("STACK_TLS_DIR"), stackEnv("STACK_BUILDCTL")
	image := stackEnv("STACK_REGISTRY") + "/bench/bake"
	dir := bakeFixture(image, step)
	defer os.RemoveAll(dir)
	env := []string{"DOCKER_CONFIG=" + stackEnv("STACK_DOCKER_CONFIG"), "HOME=" + os.Getenv("HOME"), "BUILDKITE_PIPELINE_SLUG=bench-bake"}
	cfg, _ := json.Marshal(map[string]any{"buildkit-host": host, "tls-dir": tls, "bake": "docker-bake.hcl", "push": true,
		"progress": "quiet", "annotate": false, "version-check": "off"})
	nonce := func(tool string) string { return fmt.Sprintf("%s-%d", tool, time.Now().UnixNano()) }
	ours := func() time.Duration {
		return run(append(env, "BUILDKITE_PLUGIN_CONFIGURATION="+string(cfg), "NONCE="+nonce("ours")), dir, *bin, "build").wall
	}
	theirs := func() time.Duration {
		n := nonce("buildctl")
		start := time.Now()
		for i := 0; i < bakeImages; i++ {
			ctx := fmt.Sprintf("img%d", i)
			run(env, dir, buildctl, "--addr", host, "--tlsdir", tls, "build", "--progress", "quiet",
				"--frontend", "dockerfile.v0", "--local", "context="+ctx, "--local", "dockerfile="+ctx, "--opt", "build-arg:NONCE="+n,
				"--output", fmt.Sprintf("type=image,name=%s-%s:buildctl,push=true", image, ctx))
		}
		return time.Since(start)
	}
	ours() // warm-up: the base image pulled, the repositories created
	theirs()
	a, b := alternate(*runs, ours, theirs)
	record(fmt.Sprintf("bake: %d images sharing a base stage, %s, one step (vs %d× `buildctl build`)", bakeImages, kind, bakeImages), a, b, 0.6, " wall")
}

func bakeNote(notes *[]string) {
	*notes = append(*notes, fmt.Sprintf("Bake: %d images, each its own context and Dockerfile: a shared base stage (`FROM` the stack's busybox, one `RUN` writing and hashing 40 MB, about 1 s) and a per-image stage (`FROM base`, a `RUN` hashing 8 MB), all pushed to the stack's registry. remote-buildkit: one `build` with `bake: docker-bake.hcl` (%d targets, `push: true`); baseline: %d `buildctl build` runs one after the other on the same daemon, timed together. Every run of either tool has a new `NONCE` build-arg (used by both stages), so nothing comes from the other tool's or an earlier run's cache; within a run the images share the base stage, which the sequential baseline reuses from its first build and bake's parallel targets share on the daemon. One untimed warm-up run each.", bakeImages, bakeImages, bakeImages))
}
