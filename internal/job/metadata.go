package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/remote-buildkit/remote-buildkit/internal/atomicfile"
	"github.com/remote-buildkit/remote-buildkit/internal/checkout"
	"github.com/remote-buildkit/remote-buildkit/internal/exitcode"
)

// metadataDoc is the metadata file's document, the one place it is made:
// for one image, its exporter response (as buildctl's --metadata-file has
// it) plus our result under "remote-buildkit"; with bake, that per target,
// keyed by the target's name (as docker buildx bake --metadata-file).
func metadataDoc(step *Step) map[string]any {
	one := func(im *image) map[string]any {
		doc := map[string]any{}
		for k, v := range im.res.Exporter {
			doc[k] = v
		}
		doc["remote-buildkit"] = im.res
		return doc
	}
	if step.Kind != BakeImages {
		return one(step.Images[0])
	}
	doc := map[string]any{}
	for _, im := range step.Images {
		doc[im.name] = one(im)
	}
	return doc
}

// writeMetadataFile writes the metadata document to path, atomically; when
// root (the checkout) is set, path is inside it and written through an
// os.Root on it, never through a link out of it.
func writeMetadataFile(root, path string, step *Step) error {
	b, err := json.MarshalIndent(metadataDoc(step), "", "  ")
	if err != nil {
		return err
	}
	b = []byte(step.Redact.String(string(b))) // step names hold build args
	b = append(b, '\n')
	if root != "" {
		if rel, err := filepath.Rel(root, path); err == nil && checkout.Relative(rel) {
			err = atomicfile.WriteFileIn(root, rel, b, 0o644)
			return metadataError(path, err)
		}
	}
	return metadataError(path, atomicfile.WriteFile(path, b, 0o644))
}

// metadataError names the file; a link out of the checkout is exit 2.
func metadataError(path string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("metadata-file %s: %w", path, err)
	if errors.As(err, new(*checkout.LinkError)) {
		return exitcode.With(exitcode.BadConfig, fmt.Errorf("%w: %s", err, checkout.LinkFix))
	}
	return err
}

// writeMetadata writes the step's metadata file, when it names one.
func writeMetadata(d Deps, step *Step) error {
	path := step.Config.MetadataFile
	if path == "" {
		return nil
	}
	if err := writeMetadataFile(step.Config.MetadataRoot, path, step); err != nil {
		if exitcode.Of(err) != exitcode.BadConfig {
			err = exitcode.With(exitcode.Internal, err)
		}
		return err
	}
	fmt.Fprintf(d.Out, "metadata: %s\n", relTo(d.WorkDir, path))
	return nil
}
