// Package layers holds the test that enforces DESIGN.md's package layering:
// a package imports only packages of lower layers, and siblings in one layer
// never import each other. It has no code of its own.
package layers
