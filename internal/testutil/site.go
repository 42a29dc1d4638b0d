package testutil

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Site sends requests to a console or API under test at URL, failing the
// test on any transport error, and returns what came back.
type Site struct{ URL string }

// Answer is one response, read whole.
type Answer struct {
	Status int
	Header http.Header
	Body   string
	Res    *http.Response
}

// JSON decodes a JSON answer into v.
func (a Answer) JSON(t *testing.T, v any) {
	t.Helper()
	require.Contains(t, a.Header.Get("Content-Type"), "application/json", a.Body)
	require.NoError(t, json.Unmarshal([]byte(a.Body), v), a.Body)
}

// Client is a browser-like client with a cookie jar that does not follow
// redirects, so that tests see the 303s themselves.
func Client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Bearer is the header that presents an API token.
func Bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// Login signs name in through the login form and returns the client that
// holds the session.
func (s Site) Login(t *testing.T, name, password string) *http.Client {
	t.Helper()
	c := Client(t)
	a := s.Post(t, c, "/login", url.Values{"username": {name}, "password": {password}}, nil)
	require.Equal(t, http.StatusSeeOther, a.Status, a.Body)
	return c
}

// Do sends req with c, or with a fresh Client when c is nil.
func (s Site) Do(t *testing.T, c *http.Client, req *http.Request) Answer {
	t.Helper()
	if c == nil {
		c = Client(t)
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return Answer{Status: res.StatusCode, Header: res.Header, Body: string(body), Res: res}
}

// Get asks for path.
func (s Site) Get(t *testing.T, c *http.Client, path string, header http.Header) Answer {
	t.Helper()
	return s.send(t, c, http.MethodGet, path, nil, "", header)
}

// Post posts form to path.
func (s Site) Post(t *testing.T, c *http.Client, path string, form url.Values, header http.Header) Answer {
	t.Helper()
	return s.send(t, c, http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", header)
}

// PostJSON posts body as JSON to path.
func (s Site) PostJSON(t *testing.T, c *http.Client, path string, body any, header http.Header) Answer {
	t.Helper()
	j, err := json.Marshal(body)
	require.NoError(t, err)
	return s.send(t, c, http.MethodPost, path, bytes.NewReader(j), "application/json", header)
}

// Upload posts a multipart form to path with file as its file part.
func (s Site) Upload(t *testing.T, c *http.Client, path string, fields map[string]string, file string, header http.Header) Answer {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v))
	}
	fw, err := mw.CreateFormFile("file", "list.csv")
	require.NoError(t, err)
	_, err = io.WriteString(fw, file)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	return s.send(t, c, http.MethodPost, path, &buf, mw.FormDataContentType(), header)
}

func (s Site) send(t *testing.T, c *http.Client, method, path string, body io.Reader, contentType string, header http.Header) Answer {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return s.Do(t, c, req)
}
