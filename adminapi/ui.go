package adminapi

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
)

// uiFiles is the dashboard: hand-written HTML, CSS and JavaScript modules,
// no build step and nothing fetched from elsewhere. The files hold no
// data; the page asks for the token and calls the API with it.
//
//go:embed ui
var uiFiles embed.FS

func uiHandler() http.Handler {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return http.StripPrefix("/ui/", http.FileServerFS(sub))
}

func uiMissing(*http.Request) (any, error) {
	return nil, fmt.Errorf("%w: no dashboard", ErrNotFound)
}
