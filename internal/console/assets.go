package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// web holds the console's pages, styles and scripts. There is no build
// step: the files are served as they are in the repository.
//
//go:embed web
var web embed.FS

// contentTypes lists the only file kinds the console ships; loadAssets
// refuses any other, so no file is ever served with a guessed type.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

// asset is one embedded file ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string // strong validator: a hash of the content
}

// assets are the embedded files by their URL path below /console/assets/,
// plus the page every page route answers with.
type assets struct {
	files map[string]*asset
	index *asset
}

// loadAssets reads every embedded file once, so serving never touches the
// file system and each file's ETag is computed a single time.
func loadAssets() (*assets, error) {
	root, err := fs.Sub(web, "web")
	if err != nil {
		return nil, err
	}
	a := &assets{files: map[string]*asset{}}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("console: embedded file %s has no known content type", name)
		}
		body, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a.files[name] = &asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.index = a.files["index.html"]
	if a.index == nil {
		return nil, fmt.Errorf("console: index.html is not embedded")
	}
	return a, nil
}

// lookup returns the static file for a path below /console/assets/.
func (a *assets) lookup(rest string) (*asset, bool) {
	if rest == "" || strings.Contains(rest, "..") || strings.HasPrefix(rest, "/") {
		return nil, false
	}
	f, ok := a.files["assets/"+rest]
	return f, ok
}
