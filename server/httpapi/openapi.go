package httpapi

import _ "embed"

// openAPIDoc is the OpenAPI 3 description of the routes (see routes.go);
// TestOpenAPIMatchesRoutes keeps the two in step.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document served at /api/openapi.json.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

func (a *API) openAPI(*request) (*reply, error) { return &reply{raw: openAPIDoc}, nil }
