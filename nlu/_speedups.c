/* Compiled inner loops of gridbot's message parsing (see nlu/speedups.py).
 *
 * Trie               a compact map from strings to numbers: jieba's dictionary (350,000 words
 *                    and their prefixes, as log probabilities) and each feature block's
 *                    vocabulary (term -> row of the weights). Nodes are numbered; the edge
 *                    from a node on a character is one probe in an open-addressing table, so
 *                    looking up every prefix of a span costs one probe per character and
 *                    makes no Python objects. Tested against the dict it was built from.
 * walk               follows many independent paths through a trie at once, prefetching each
 *                    one's next step, so that their waits for memory overlap.
 * cut_run            nlu.segment.Segmenter._cut_run      (jieba's most probable path)
 * tokens             nlu.features.jieba_tokens           (a text's words, less punctuation)
 * block_counts       nlu.features.word_ngrams / char_ngrams + vocabulary lookup, counted
 * score_text         nlu.scorer.LinearScorer             (TF-IDF blocks, dot product)
 * contrast_text      nlu.scorer.LinearScorer.term_contrast (an explanation's terms)
 * The tests check each against its Python version.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- Trie -------------------------------------------------------------------------------- */

/* A node's value: a number, NAN for a key whose value is None (jieba: a prefix that is not a
 * word), INFINITY for a node that is not a key at all (an inner node of longer keys). */
#define ABSENT INFINITY
/* Characters below this have the root's edge on them in a direct table (ASCII, CJK
 * punctuation and the CJK unified ideographs), the first step of every walk. */
#define ROOT_DIRECT 0xA000

/* The edge from a node on a character, with the value of the node it leads to: one probe,
 * one cache line, per character walked. */
typedef struct {
    uint64_t key; /* ((parent << 21) | character) + 1, or 0 for an empty slot */
    double value;
    uint32_t child;
} Edge;

typedef struct {
    PyObject_HEAD
    Edge *edges;
    size_t mask; /* table size - 1 (a power of two) */
    size_t used;
    uint32_t nodes;
    uint32_t *root; /* ROOT_DIRECT slots: index of the root's edge on that character + 1 */
    Py_ssize_t keys;
} TrieObject;

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t edge_key(uint32_t node, Py_UCS4 ch) {
    return ((((uint64_t)node) << 21) | (uint64_t)ch) + 1;
}

/* The slot of key's edge, or of the empty slot where it would go. */
static inline size_t edge_slot(const TrieObject *t, uint64_t key) {
    size_t i = (size_t)mix64(key) & t->mask;
    while (t->edges[i].key != key && t->edges[i].key != 0)
        i = (i + 1) & t->mask;
    return i;
}

/* The edge from node on ch, or NULL. */
static inline const Edge *trie_step(const TrieObject *t, uint32_t node, Py_UCS4 ch) {
    if (node == 0 && ch < ROOT_DIRECT && t->root != NULL) {
        uint32_t j = t->root[ch];
        return j ? &t->edges[j - 1] : NULL;
    }
    const Edge *e = &t->edges[edge_slot(t, edge_key(node, ch))];
    return e->key ? e : NULL;
}

static int trie_grow(TrieObject *t) {
    size_t old_size = t->mask + 1, size = old_size * 2;
    Edge *edges = PyMem_Calloc(size, sizeof(Edge));
    if (edges == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Edge *old = t->edges;
    t->edges = edges;
    t->mask = size - 1;
    for (size_t j = 0; j < old_size; j++)
        if (old[j].key != 0)
            edges[edge_slot(t, old[j].key)] = old[j];
    PyMem_Free(old);
    return 0;
}

/* The edge from node on ch, made (leading to a new node) when missing; NULL on error. */
static Edge *trie_step_or_add(TrieObject *t, uint32_t node, Py_UCS4 ch) {
    uint64_t key = edge_key(node, ch);
    size_t i = edge_slot(t, key);
    if (t->edges[i].key == key)
        return &t->edges[i];
    if ((t->used + 1) * 2 > t->mask + 1) {
        if (trie_grow(t) < 0)
            return NULL;
        i = edge_slot(t, key);
    }
    if (t->nodes == UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many trie nodes");
        return NULL;
    }
    Edge *e = &t->edges[i];
    e->key = key;
    e->value = ABSENT;
    e->child = t->nodes++;
    t->used++;
    return e;
}

/* The edge that ends a whole non-empty string, or NULL when it is not in the trie. */
static const Edge *trie_find(const TrieObject *t, PyObject *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    const Edge *e = NULL;
    uint32_t node = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        e = trie_step(t, node, PyUnicode_READ(kind, data, i));
        if (e == NULL)
            return NULL;
        node = e->child;
    }
    return e;
}

static void Trie_dealloc(TrieObject *t) {
    PyMem_Free(t->edges);
    PyMem_Free(t->root);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

/* Trie(mapping, log_total=None): every key a non-empty str, every value a real number or
 * None. With log_total the values are counts (jieba's FREQ) and are stored as
 * log(count) - log_total, or as None for a count of 0, as nlu.segment.Segmenter does. */
static PyObject *Trie_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *mapping, *log_total_obj = Py_None;
    static char *kwlist[] = {"mapping", "log_total", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!|O:Trie", kwlist, &PyDict_Type, &mapping,
                                     &log_total_obj))
        return NULL;
    int counts = log_total_obj != Py_None;
    double log_total = counts ? PyFloat_AsDouble(log_total_obj) : 0.0;
    if (log_total == -1.0 && PyErr_Occurred())
        return NULL;
    TrieObject *t = (TrieObject *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    Py_ssize_t n = PyDict_GET_SIZE(mapping);
    size_t size = 64;
    while (size < (size_t)n * 2)
        size *= 2;
    t->edges = PyMem_Calloc(size, sizeof(Edge));
    if (t->edges == NULL) {
        Py_DECREF(t);
        return PyErr_NoMemory();
    }
    t->mask = size - 1;
    t->nodes = 1; /* the root */
    Py_ssize_t pos = 0;
    PyObject *key, *val;
    while (PyDict_Next(mapping, &pos, &key, &val)) {
        if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) {
            PyErr_SetString(PyExc_TypeError, "Trie keys must be non-empty str");
            goto error;
        }
        double v;
        if (val == Py_None) {
            v = NAN;
        } else {
            v = PyFloat_AsDouble(val);
            if (v == -1.0 && PyErr_Occurred())
                goto error;
            if (counts && v < 0) {
                PyErr_SetString(PyExc_ValueError, "counts must not be negative");
                goto error;
            }
            if (counts)
                v = v > 0 ? log(v) - log_total : NAN;
            if (!isfinite(v) && !(counts && isnan(v))) {
                PyErr_SetString(PyExc_ValueError, "Trie values must be finite or None");
                goto error;
            }
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(key);
        int kind = PyUnicode_KIND(key);
        const void *data = PyUnicode_DATA(key);
        Edge *e = NULL;
        uint32_t node = 0;
        for (Py_ssize_t i = 0; i < len; i++) {
            e = trie_step_or_add(t, node, PyUnicode_READ(kind, data, i));
            if (e == NULL)
                goto error;
            node = e->child;
        }
        if (e->value == ABSENT)
            t->keys++;
        e->value = v;
    }
    t->root = PyMem_Calloc(ROOT_DIRECT, sizeof(uint32_t));
    if (t->root == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (Py_UCS4 ch = 0; ch < ROOT_DIRECT; ch++) {
        size_t i = edge_slot(t, edge_key(0, ch));
        if (t->edges[i].key != 0)
            t->root[ch] = (uint32_t)i + 1;
    }
    return (PyObject *)t;
error:
    Py_DECREF(t);
    return NULL;
}

/* trie.get(key, default=None): the value of key (None for a None value), else default. */
static PyObject *Trie_get(TrieObject *t, PyObject *args) {
    PyObject *key, *dflt = Py_None;
    if (!PyArg_ParseTuple(args, "U|O:get", &key, &dflt))
        return NULL;
    const Edge *e = PyUnicode_GET_LENGTH(key) ? trie_find(t, key) : NULL;
    if (e == NULL || e->value == ABSENT)
        return Py_NewRef(dflt);
    if (isnan(e->value))
        Py_RETURN_NONE;
    return PyFloat_FromDouble(e->value);
}

static Py_ssize_t Trie_len(TrieObject *t) { return t->keys; }

static PyObject *Trie_nbytes(TrieObject *t, void *closure) {
    size_t bytes = (t->mask + 1) * sizeof(Edge) + (t->root ? ROOT_DIRECT * sizeof(uint32_t) : 0);
    return PyLong_FromSize_t(bytes);
}

static PyMethodDef Trie_methods[] = {
    {"get", (PyCFunction)Trie_get, METH_VARARGS, "The value of a key, or default."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Trie_getset[] = {
    {"nbytes", (getter)Trie_nbytes, NULL, "Bytes of memory the trie holds.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Trie_as_sequence = {.sq_length = (lenfunc)Trie_len};

static PyTypeObject TrieType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "nlu._speedups.Trie",
    .tp_doc = "Trie(mapping, log_total=None): str keys to numbers (or None), stored compactly.",
    .tp_basicsize = sizeof(TrieObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Trie_new,
    .tp_dealloc = (destructor)Trie_dealloc,
    .tp_methods = Trie_methods,
    .tp_getset = Trie_getset,
    .tp_as_sequence = &Trie_as_sequence,
};

/* ---- text access and spans ----------------------------------------------------------------- */

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t len;
} Text;

static inline Py_UCS4 at(const Text *s, Py_ssize_t i) { return PyUnicode_READ(s->kind, s->data, i); }

static Text text_of(PyObject *u) {
    Text s = {PyUnicode_KIND(u), PyUnicode_DATA(u), PyUnicode_GET_LENGTH(u)};
    return s;
}

/* A growable list of [start, end) spans of a text. */
typedef struct {
    Py_ssize_t *v; /* start0, end0, start1, end1, ... */
    Py_ssize_t n, cap;
} Spans;

static int spans_add(Spans *sp, Py_ssize_t a, Py_ssize_t b) {
    if (sp->n == sp->cap) {
        Py_ssize_t cap = sp->cap ? sp->cap * 2 : 64;
        Py_ssize_t *v = PyMem_Realloc(sp->v, (size_t)cap * 2 * sizeof(Py_ssize_t));
        if (v == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        sp->v = v;
        sp->cap = cap;
    }
    sp->v[2 * sp->n] = a;
    sp->v[2 * sp->n + 1] = b;
    sp->n++;
    return 0;
}

static int is_ascii_alnum(Py_UCS4 ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* jieba's "Chinese" run characters: [\u4e00-\u9fd5a-zA-Z0-9+#&._%-] */
static int in_run(Py_UCS4 ch) {
    return (ch >= 0x4e00 && ch <= 0x9fd5) || is_ascii_alnum(ch) || ch == '+' || ch == '#' ||
           ch == '&' || ch == '.' || ch == '_' || ch == '%' || ch == '-';
}

/* ---- walking many paths at once ------------------------------------------------------------
 * Parsing walks a trie from many starting points of a short buffer: every character for the
 * segmenter and the character n-grams, every word for the word n-grams. Each walk is a chain
 * of dependent lookups in a table of megabytes, so nearly every step waits for memory. The
 * walks are independent of each other, though: walk() keeps LANES of them going round-robin
 * and prefetches each lane's next edge a round before reading it, so that their memory
 * waits overlap. visit() sees every edge found, in order along each walk (walks themselves
 * end in any order), and returns nonzero to end its walk there. */

#ifndef LANES
#define LANES 16
#endif
#define NO_SLOT ((size_t)-1)

typedef int (*Visit)(void *ctx, Py_ssize_t walk, Py_ssize_t pos, const Edge *e);

typedef struct {
    Py_ssize_t walk, pos;
    uint64_t key;
    size_t slot;
} Lane;

/* Aim lane at the edge from node on buf[pos]: compute its slot and prefetch it. */
static inline void lane_aim(const TrieObject *t, Lane *l, uint32_t node, Py_UCS4 ch) {
    l->key = edge_key(node, ch);
    if (node == 0 && ch < ROOT_DIRECT && t->root != NULL) {
        uint32_t j = t->root[ch];
        l->slot = j ? (size_t)j - 1 : NO_SLOT;
    } else {
        l->slot = (size_t)mix64(l->key) & t->mask;
    }
    if (l->slot != NO_SLOT)
        __builtin_prefetch(&t->edges[l->slot]);
}

/* Walk t from buf[starts[w]] up to buf[limits[w] - 1] for every walk w < walks. */
static void walk(const TrieObject *t, const Py_UCS4 *buf, const Py_ssize_t *starts,
                 const Py_ssize_t *limits, Py_ssize_t walks, Visit visit, void *ctx) {
    Lane lanes[LANES];
    int active = 0;
    Py_ssize_t next = 0;
    for (; active < LANES && next < walks; next++) {
        if (starts[next] >= limits[next])
            continue;
        Lane *l = &lanes[active++];
        l->walk = next;
        l->pos = starts[next];
        lane_aim(t, l, 0, buf[l->pos]);
    }
    while (active > 0) {
        for (int j = 0; j < active; j++) {
            Lane *l = &lanes[j];
            const Edge *e = NULL;
            if (l->slot != NO_SLOT) {
                size_t i = l->slot;
                while (t->edges[i].key != l->key && t->edges[i].key != 0)
                    i = (i + 1) & t->mask;
                if (t->edges[i].key != 0)
                    e = &t->edges[i];
            }
            if (e != NULL && !visit(ctx, l->walk, l->pos, e) && l->pos + 1 < limits[l->walk]) {
                l->pos++;
                lane_aim(t, l, e->child, buf[l->pos]);
                continue;
            }
            /* this walk is over: the lane takes the next one, or retires */
            while (next < walks && starts[next] >= limits[next])
                next++;
            if (next < walks) {
                l->walk = next;
                l->pos = starts[next];
                lane_aim(t, l, 0, buf[l->pos]);
                next++;
            } else {
                lanes[j] = lanes[--active];
                j--;
            }
        }
    }
}

/* Buffers for the walks of one call. */
typedef struct {
    Py_UCS4 *buf;
    Py_ssize_t *starts, *limits, *aux;
    Py_ssize_t n, walks;
} Walks;

static int walks_init(Walks *w, Py_ssize_t chars, Py_ssize_t walks) {
    w->buf = PyMem_Malloc((size_t)(chars + 1) * sizeof(Py_UCS4));
    w->starts = PyMem_Malloc((size_t)(walks + 1) * sizeof(Py_ssize_t));
    w->limits = PyMem_Malloc((size_t)(walks + 1) * sizeof(Py_ssize_t));
    w->aux = PyMem_Malloc((size_t)(walks + 1) * sizeof(Py_ssize_t));
    w->n = w->walks = 0;
    if (w->buf == NULL || w->starts == NULL || w->limits == NULL || w->aux == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void walks_free(Walks *w) {
    PyMem_Free(w->buf);
    PyMem_Free(w->starts);
    PyMem_Free(w->limits);
    PyMem_Free(w->aux);
    w->buf = NULL;
    w->starts = w->limits = w->aux = NULL;
}

/* ---- segmentation -------------------------------------------------------------------------- */

/* A dictionary word found by the segmenter's walks: the run's s[k:i+1], log probability. */
typedef struct {
    Py_ssize_t k, i;
    double cost;
} Found;

typedef struct {
    Found *found;
    Py_ssize_t n, cap;
    int failed;
} Finds;

static int find_word(void *ctx, Py_ssize_t walk, Py_ssize_t pos, const Edge *e) {
    Finds *f = ctx;
    if (e->value == ABSENT || f->failed)
        return 1; /* not a key of the dictionary: jieba stops looking here */
    if (!isnan(e->value)) { /* NAN: a prefix only */
        if (f->n == f->cap) {
            Found *more = PyMem_Realloc(f->found, (size_t)f->cap * 2 * sizeof(Found));
            if (more == NULL) {
                f->failed = 1;
                return 1;
            }
            f->found = more;
            f->cap *= 2;
        }
        Found *x = &f->found[f->n++];
        x->k = walk;
        x->i = pos;
        x->cost = e->value;
    }
    return 0;
}

/* Add the words of s[start:stop], a run of jieba's "Chinese" characters, along jieba's most
 * probable path over the dictionary trie. */
static int cut_span(const TrieObject *dict, double unknown, const Text *s, Py_ssize_t start,
                    Py_ssize_t stop, Spans *out) {
    Py_ssize_t n = stop - start;
    double *score = PyMem_Calloc(n + 1, sizeof(double));
    Py_ssize_t *end = PyMem_Malloc((n + 1) * sizeof(Py_ssize_t));
    Py_ssize_t *first = PyMem_Calloc(n + 2, sizeof(Py_ssize_t));
    Walks w;
    Finds f = {NULL, 0, 2 * n + 16, 0};
    Found *sorted = NULL;
    int rc = -1;
    f.found = PyMem_Malloc((size_t)f.cap * sizeof(Found));
    if (walks_init(&w, n, n) < 0 || score == NULL || end == NULL || first == NULL ||
        f.found == NULL)
        goto done;
    /* a walk from every character k, as far as the dictionary has words from there */
    for (Py_ssize_t k = 0; k < n; k++) {
        w.buf[k] = at(s, start + k);
        w.starts[k] = k;
        w.limits[k] = n;
    }
    walk(dict, w.buf, w.starts, w.limits, n, find_word, &f);
    if (f.failed)
        goto done;
    sorted = PyMem_Malloc((size_t)(f.n + 1) * sizeof(Found));
    if (sorted == NULL)
        goto done;
    /* the words from each k, in the order of their ends (each walk found them in that order) */
    for (Py_ssize_t j = 0; j < f.n; j++)
        first[f.found[j].k + 1]++;
    for (Py_ssize_t k = 0; k < n; k++)
        first[k + 1] += first[k];
    for (Py_ssize_t j = 0; j < f.n; j++)
        sorted[first[f.found[j].k]++] = f.found[j];
    /* first[k] now ends the words from k; they begin where the words from k - 1 end */
    for (Py_ssize_t k = n - 1; k >= 0; k--) {
        double best = unknown + score[k + 1];
        Py_ssize_t best_end = -1;
        for (Py_ssize_t j = k > 0 ? first[k - 1] : 0; j < first[k]; j++) {
            double v = sorted[j].cost + score[sorted[j].i + 1];
            /* jieba takes max over (score, end): equal scores go to the longer word */
            if (best_end < 0 || v >= best) {
                best = v;
                best_end = sorted[j].i;
            }
        }
        score[k] = best;
        end[k] = best_end >= 0 ? best_end : k;
    }
    rc = 0;
done:
    if (rc < 0 && !PyErr_Occurred())
        PyErr_NoMemory();
    walks_free(&w);
    PyMem_Free(f.found);
    PyMem_Free(sorted);
    PyMem_Free(first);
    if (rc < 0) {
        PyMem_Free(score);
        PyMem_Free(end);
        return -1;
    }
    /* Walk the path; like jieba, single ASCII letters or digits in a row are joined. */
    Py_ssize_t x = 0, buf_start = -1;
    while (x < n && rc == 0) {
        Py_ssize_t y = end[x] + 1;
        if (y - x == 1 && is_ascii_alnum(at(s, start + x))) {
            if (buf_start < 0)
                buf_start = x;
        } else {
            if (buf_start >= 0) {
                rc = spans_add(out, start + buf_start, start + x);
                buf_start = -1;
            }
            if (rc == 0)
                rc = spans_add(out, start + x, start + y);
        }
        x = y;
    }
    if (rc == 0 && buf_start >= 0)
        rc = spans_add(out, start + buf_start, stop);
    PyMem_Free(score);
    PyMem_Free(end);
    return rc;
}

/* Every word of s except whitespace, as jieba.lcut(HMM=False) gives them: runs cut along the
 * most probable path, every other character alone. */
static int cut_text(const TrieObject *dict, double unknown, const Text *s, Spans *out) {
    Py_ssize_t i = 0;
    while (i < s->len) {
        Py_UCS4 ch = at(s, i);
        if (in_run(ch)) {
            Py_ssize_t j = i + 1;
            while (j < s->len && in_run(at(s, j)))
                j++;
            if (cut_span(dict, unknown, s, i, j, out) < 0)
                return -1;
            i = j;
        } else {
            /* outside runs jieba gives each character alone (and "\r\n" together) */
            if (!Py_UNICODE_ISSPACE(ch) && spans_add(out, i, i + 1) < 0)
                return -1;
            i++;
        }
    }
    return 0;
}

static int spans_to_list(PyObject *text, const Spans *sp, PyObject *skip, PyObject *out) {
    for (Py_ssize_t j = 0; j < sp->n; j++) {
        PyObject *w = PyUnicode_Substring(text, sp->v[2 * j], sp->v[2 * j + 1]);
        if (w == NULL)
            return -1;
        int drop = skip != NULL ? PySet_Contains(skip, w) : 0;
        int rc = drop < 0 ? -1 : (drop ? 0 : PyList_Append(out, w));
        Py_DECREF(w);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* cut_run(dictionary: Trie, unknown: float, run: str, out: list) -> None */
static PyObject *cut_run(PyObject *self, PyObject *args) {
    TrieObject *dict;
    PyObject *run, *out;
    double unknown;
    if (!PyArg_ParseTuple(args, "O!dUO!", &TrieType, &dict, &unknown, &run, &PyList_Type, &out))
        return NULL;
    Text s = text_of(run);
    Spans sp = {NULL, 0, 0};
    int rc = cut_span(dict, unknown, &s, 0, s.len, &sp);
    if (rc == 0)
        rc = spans_to_list(run, &sp, NULL, out);
    PyMem_Free(sp.v);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* tokens(dictionary: Trie, unknown: float, text: str, skip: frozenset) -> list[str]
 * jieba's words of text (HMM off) without whitespace and without the words in skip. */
static PyObject *tokens(PyObject *self, PyObject *args) {
    TrieObject *dict;
    PyObject *text, *skip;
    double unknown;
    if (!PyArg_ParseTuple(args, "O!dUO!", &TrieType, &dict, &unknown, &text,
                          &PyFrozenSet_Type, &skip))
        return NULL;
    Text s = text_of(text);
    Spans sp = {NULL, 0, 0};
    PyObject *out = PyList_New(0);
    if (out == NULL || cut_text(dict, unknown, &s, &sp) < 0 ||
        spans_to_list(text, &sp, skip, out) < 0) {
        Py_XDECREF(out);
        out = NULL;
    }
    PyMem_Free(sp.v);
    return out;
}

/* ---- counting the terms of a feature block ---------------------------------------------- */

/* Counts of rows in first-seen order, with an open-addressing index. */
typedef struct {
    int32_t *slot; /* index into rows/counts, or -1 */
    size_t mask;
    uint32_t *rows;
    uint32_t *counts;
    Py_ssize_t n;
} Counts;

static int counts_init(Counts *c, Py_ssize_t most) {
    size_t size = 16;
    while (size < (size_t)most * 2 + 2)
        size *= 2;
    c->slot = PyMem_Malloc(size * sizeof(int32_t));
    c->rows = PyMem_Malloc(((size_t)most + 1) * sizeof(uint32_t));
    c->counts = PyMem_Malloc(((size_t)most + 1) * sizeof(uint32_t));
    if (c->slot == NULL || c->rows == NULL || c->counts == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(c->slot, 0xff, size * sizeof(int32_t));
    c->mask = size - 1;
    c->n = 0;
    return 0;
}

static void counts_free(Counts *c) {
    PyMem_Free(c->slot);
    PyMem_Free(c->rows);
    PyMem_Free(c->counts);
}

static inline void counts_add(Counts *c, uint32_t row) {
    size_t i = (size_t)mix64((uint64_t)row + 1) & c->mask;
    while (c->slot[i] >= 0) {
        if (c->rows[c->slot[i]] == row) {
            c->counts[c->slot[i]]++;
            return;
        }
        i = (i + 1) & c->mask;
    }
    c->slot[i] = (int32_t)c->n;
    c->rows[c->n] = row;
    c->counts[c->n] = 1;
    c->n++;
}

/* The value of the node an edge leads to as a row, or -1 when that node is not a term. */
static inline int64_t row_of(const Edge *e) {
    return (e->value == ABSENT || isnan(e->value)) ? -1 : (int64_t)e->value;
}

/* What a block's walks count: every edge of a walk at least aux[walk] characters long
 * (characters), or every edge that ends a word, when the walk has gone through at least lo
 * words (words: aux[walk] is the walk's first word, ends[pos] the word ending at pos + 1). */
typedef struct {
    Counts *counts;
    const Py_ssize_t *starts, *aux, *ends;
    Py_ssize_t lo;
} Counting;

static int count_char_gram(void *ctx, Py_ssize_t walk, Py_ssize_t pos, const Edge *e) {
    Counting *c = ctx;
    int64_t row = pos - c->starts[walk] + 1 >= c->aux[walk] ? row_of(e) : -1;
    if (row >= 0)
        counts_add(c->counts, (uint32_t)row);
    return 0;
}

static int count_word_gram(void *ctx, Py_ssize_t walk, Py_ssize_t pos, const Edge *e) {
    Counting *c = ctx;
    int64_t row = c->ends[pos] && c->ends[pos] - c->aux[walk] >= c->lo ? row_of(e) : -1;
    if (row >= 0)
        counts_add(c->counts, (uint32_t)row);
    return 0;
}

/* Character n-grams lo..hi of s (nlu.features.char_ngrams), counted when in vocab. */
static int count_chars(const TrieObject *vocab, const Text *s, Py_ssize_t lo, Py_ssize_t hi,
                       int within_words, Counts *c) {
    Walks w;
    /* with words padded by a space on both sides: at most 3 characters for each of s */
    if (walks_init(&w, s->len * 3 + 2, s->len * 3 + 2) < 0) {
        walks_free(&w);
        return -1;
    }
    if (!within_words) {
        for (Py_ssize_t i = 0; i < s->len; i++) {
            w.buf[i] = at(s, i);
            w.starts[i] = i;
            w.limits[i] = i + hi < s->len ? i + hi : s->len;
            w.aux[i] = lo;
        }
        w.n = w.walks = s->len;
    } else {
        /* Each whitespace-separated word, padded with a space on both sides; n-grams stay
         * inside it, and a padded word shorter than lo counts once, whole. */
        Py_ssize_t i = 0;
        while (i < s->len) {
            while (i < s->len && Py_UNICODE_ISSPACE(at(s, i)))
                i++;
            if (i >= s->len)
                break;
            Py_ssize_t from = w.n;
            w.buf[w.n++] = ' ';
            while (i < s->len && !Py_UNICODE_ISSPACE(at(s, i)))
                w.buf[w.n++] = at(s, i++);
            w.buf[w.n++] = ' ';
            Py_ssize_t size = w.n - from;
            if (size < lo) {
                w.starts[w.walks] = from;
                w.limits[w.walks] = w.n;
                w.aux[w.walks++] = size;
                continue;
            }
            for (Py_ssize_t a = from; a < w.n; a++) {
                w.starts[w.walks] = a;
                w.limits[w.walks] = a + hi < w.n ? a + hi : w.n;
                w.aux[w.walks++] = lo;
            }
        }
    }
    Counting counting = {c, w.starts, w.aux, NULL, lo};
    walk(vocab, w.buf, w.starts, w.limits, w.walks, count_char_gram, &counting);
    walks_free(&w);
    return 0;
}

/* Word n-grams lo..hi (words joined by a space; nlu.features.word_ngrams), counted when in
 * vocab. */
static int count_words(const TrieObject *vocab, const Text *s, const Spans *words, Py_ssize_t lo,
                       Py_ssize_t hi, Counts *c) {
    Py_ssize_t chars = 0;
    for (Py_ssize_t k = 0; k < words->n; k++)
        chars += words->v[2 * k + 1] - words->v[2 * k] + 1;
    Walks w;
    Py_ssize_t *ends = PyMem_Calloc((size_t)chars + 1, sizeof(Py_ssize_t));
    Py_ssize_t *word_start = PyMem_Malloc(((size_t)words->n + 1) * sizeof(Py_ssize_t));
    if (walks_init(&w, chars, words->n) < 0 || ends == NULL || word_start == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        walks_free(&w);
        PyMem_Free(ends);
        PyMem_Free(word_start);
        return -1;
    }
    /* the words joined by spaces; ends[pos] = k + 1 where word k ends at pos */
    for (Py_ssize_t k = 0; k < words->n; k++) {
        if (k > 0)
            w.buf[w.n++] = ' ';
        word_start[k] = w.n;
        for (Py_ssize_t j = words->v[2 * k]; j < words->v[2 * k + 1]; j++)
            w.buf[w.n++] = at(s, j);
        ends[w.n - 1] = k + 1;
    }
    for (Py_ssize_t k = 0; k < words->n; k++) {
        Py_ssize_t last = k + hi - 1 < words->n ? k + hi - 1 : words->n - 1;
        w.starts[k] = word_start[k];
        w.limits[k] = last + 1 < words->n ? word_start[last + 1] - 1 : w.n;
        w.aux[k] = k;
    }
    Counting counting = {c, w.starts, w.aux, ends, lo};
    walk(vocab, w.buf, w.starts, w.limits, words->n, count_word_gram, &counting);
    walks_free(&w);
    PyMem_Free(ends);
    PyMem_Free(word_start);
    return 0;
}

/* One feature block as given by Python: (kind, vocabulary, lo, hi, within_words) with kind
 * "words" or "chars". */
typedef struct {
    int words;
    TrieObject *vocab;
    Py_ssize_t lo, hi;
    int within_words;
} Block;

static int parse_block(PyObject *spec, Block *b) {
    const char *kind;
    if (!PyArg_ParseTuple(spec, "sO!nnp", &kind, &TrieType, &b->vocab, &b->lo, &b->hi,
                          &b->within_words))
        return -1;
    if (strcmp(kind, "words") == 0) {
        b->words = 1;
    } else if (strcmp(kind, "chars") == 0) {
        b->words = 0;
    } else {
        PyErr_SetString(PyExc_ValueError, "a block's kind is 'words' or 'chars'");
        return -1;
    }
    if (b->lo < 1 || b->hi < b->lo) {
        PyErr_SetString(PyExc_ValueError, "need 1 <= lo <= hi");
        return -1;
    }
    return 0;
}

/* The word tokens of a normalised text (nlu.features.jieba_tokens): jieba's words less
 * whitespace and less the one-character words in skip. */
static int word_tokens(const TrieObject *dict, double unknown, const Text *skip, const Text *s,
                       Spans *out) {
    Spans all = {NULL, 0, 0};
    if (cut_text(dict, unknown, s, &all) < 0) {
        PyMem_Free(all.v);
        return -1;
    }
    for (Py_ssize_t j = 0; j < all.n; j++) {
        Py_ssize_t a = all.v[2 * j], b = all.v[2 * j + 1];
        if (b - a == 1) {
            Py_UCS4 ch = at(s, a);
            int skipped = 0;
            for (Py_ssize_t k = 0; k < skip->len && !skipped; k++)
                skipped = at(skip, k) == ch;
            if (skipped)
                continue;
        }
        if (spans_add(out, a, b) < 0) {
            PyMem_Free(all.v);
            return -1;
        }
    }
    PyMem_Free(all.v);
    return 0;
}

/* Most grams a block can have in s. */
static Py_ssize_t most_grams(const Block *b, const Text *s, const Spans *words) {
    Py_ssize_t units = b->words ? words->n : s->len * 3 + 2; /* padding adds 2 per word */
    return units * b->hi + 1;
}

static int count_block(const Block *b, const Text *s, const Spans *words, Counts *c) {
    if (counts_init(c, most_grams(b, s, words)) < 0)
        return -1;
    if (b->words)
        return count_words(b->vocab, s, words, b->lo, b->hi, c);
    return count_chars(b->vocab, s, b->lo, b->hi, b->within_words, c);
}

/* block_counts(dictionary, unknown, skip: str, block: tuple, text: str) -> dict[int, int]
 * The rows of a block's terms in text with their counts, in first-seen order. */
static PyObject *block_counts(PyObject *self, PyObject *args) {
    TrieObject *dict;
    double unknown;
    PyObject *skip_obj, *spec, *text;
    if (!PyArg_ParseTuple(args, "O!dUO!U", &TrieType, &dict, &unknown, &skip_obj, &PyTuple_Type,
                          &spec, &text))
        return NULL;
    Block b;
    if (parse_block(spec, &b) < 0)
        return NULL;
    Text s = text_of(text), skip = text_of(skip_obj);
    Spans words = {NULL, 0, 0};
    Counts c = {NULL, 0, NULL, NULL, 0};
    PyObject *out = NULL;
    if (b.words && word_tokens(dict, unknown, &skip, &s, &words) < 0)
        goto done;
    if (count_block(&b, &s, &words, &c) < 0)
        goto done;
    out = PyDict_New();
    for (Py_ssize_t j = 0; out != NULL && j < c.n; j++) {
        PyObject *k = PyLong_FromUnsignedLong(c.rows[j]);
        PyObject *v = PyLong_FromUnsignedLong(c.counts[j]);
        if (k == NULL || v == NULL || PyDict_SetItem(out, k, v) < 0)
            Py_CLEAR(out);
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
done:
    counts_free(&c);
    PyMem_Free(words.v);
    return out;
}

/* The weights' matrix of score_text and contrast_text: a C-contiguous float64 matrix with
 * one row per term and at least two columns; -1 with an exception (and nothing held) if not. */
static int rows_matrix(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND) < 0)
        return -1;
    if (view->ndim != 2 || view->itemsize != sizeof(double) || view->format == NULL ||
        strcmp(view->format, "d") != 0 || view->shape[1] < 2) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError, "rows must be a 2-d float64 matrix");
        return -1;
    }
    return 0;
}

/* Counts the terms of one block spec in s into c (the text's words made once, on the first
 * block that needs them), each row checked against the matrix's nrows. */
static int count_spec(PyObject *spec_obj, TrieObject *dict, double unknown, const Text *skip,
                      const Text *s, Spans *words, int *have_words, Counts *c,
                      Py_ssize_t nrows) {
    Block spec;
    if (parse_block(spec_obj, &spec) < 0)
        return -1;
    if (spec.words && !*have_words) {
        if (word_tokens(dict, unknown, skip, s, words) < 0)
            return -1;
        *have_words = 1;
    }
    if (count_block(&spec, s, words, c) < 0)
        return -1;
    for (Py_ssize_t j = 0; j < c->n; j++) {
        if ((Py_ssize_t)c->rows[j] >= nrows) {
            PyErr_SetString(PyExc_ValueError, "a vocabulary row is out of range");
            return -1;
        }
    }
    return 0;
}

/* ---- score_text(rows, sublinear, dictionary, unknown, skip, blocks, text) -> list[float] ----
 * rows: a C-contiguous float64 matrix with one row per term: idf * weight for each of the K
 * classes, then idf. blocks: a tuple of block specs (see parse_block), whose vocabularies
 * give rows of that matrix. Returns every class's sum over blocks of
 * sum(tf * idf * weight) / sqrt(sum((tf * idf) ** 2)), tf = 1 + log(count) when sublinear. */
static PyObject *score_text(PyObject *self, PyObject *args) {
    PyObject *rows_obj, *skip_obj, *specs, *text;
    TrieObject *dict;
    double unknown;
    int sublinear;
    if (!PyArg_ParseTuple(args, "OpO!dUO!U", &rows_obj, &sublinear, &TrieType, &dict, &unknown,
                          &skip_obj, &PyTuple_Type, &specs, &text))
        return NULL;
    Py_buffer view;
    if (rows_matrix(rows_obj, &view) < 0)
        return NULL;
    PyObject *result = NULL;
    double *sums = NULL, *block = NULL;
    Spans words = {NULL, 0, 0};
    Counts c = {NULL, 0, NULL, NULL, 0};
    Py_ssize_t nrows = view.shape[0], width = view.shape[1], k_classes = width - 1;
    const double *data = view.buf;
    sums = PyMem_Calloc(k_classes, sizeof(double));
    block = PyMem_Calloc(k_classes, sizeof(double));
    if (sums == NULL || block == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Text s = text_of(text), skip = text_of(skip_obj);
    int have_words = 0;
    for (Py_ssize_t b = 0; b < PyTuple_GET_SIZE(specs); b++) {
        if (count_spec(PyTuple_GET_ITEM(specs, b), dict, unknown, &skip, &s, &words,
                       &have_words, &c, nrows) < 0)
            goto done;
        double squares = 0.0;
        for (Py_ssize_t k = 0; k < k_classes; k++)
            block[k] = 0.0;
        for (Py_ssize_t j = 0; j < c.n; j++)
            __builtin_prefetch(data + (Py_ssize_t)c.rows[j] * width);
        for (Py_ssize_t j = 0; j < c.n; j++) {
            double tf = sublinear ? 1.0 + log((double)c.counts[j]) : (double)c.counts[j];
            const double *r = data + (Py_ssize_t)c.rows[j] * width;
            for (Py_ssize_t k = 0; k < k_classes; k++)
                block[k] += tf * r[k];
            double v = tf * r[k_classes];
            squares += v * v;
        }
        if (c.n > 0 && squares > 0.0) {
            double scale = 1.0 / sqrt(squares);
            for (Py_ssize_t k = 0; k < k_classes; k++)
                sums[k] += block[k] * scale;
        }
        counts_free(&c);
        c.slot = NULL;
        c.rows = c.counts = NULL;
    }
    result = PyList_New(k_classes);
    for (Py_ssize_t k = 0; result != NULL && k < k_classes; k++) {
        PyObject *f = PyFloat_FromDouble(sums[k]);
        if (f == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, k, f);
    }
done:
    counts_free(&c);
    PyMem_Free(words.v);
    PyMem_Free(sums);
    PyMem_Free(block);
    PyBuffer_Release(&view);
    return result;
}

/* ---- contrast_text(rows, sublinear, dictionary, unknown, skip, blocks, shown, mine, theirs,
 *                    text) -> dict[int, float] ----
 * What score_text sums, term by term, for an explanation: each term's share of class mine's
 * score less its share of class theirs's, tf * (w_mine - w_theirs) / the block's length,
 * added up by the term's name as shown (shown: an int64 vector, a row's name id or -1 for a
 * term shown as nothing), in the order the names are first met. */
static PyObject *contrast_text(PyObject *self, PyObject *args) {
    PyObject *rows_obj, *skip_obj, *specs, *shown_obj, *text;
    TrieObject *dict;
    double unknown;
    int sublinear;
    Py_ssize_t mine, theirs;
    if (!PyArg_ParseTuple(args, "OpO!dUO!OnnU", &rows_obj, &sublinear, &TrieType, &dict,
                          &unknown, &skip_obj, &PyTuple_Type, &specs, &shown_obj, &mine,
                          &theirs, &text))
        return NULL;
    Py_buffer view, names;
    if (rows_matrix(rows_obj, &view) < 0)
        return NULL;
    if (PyObject_GetBuffer(shown_obj, &names, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    PyObject *result = NULL, *out = NULL;
    Spans words = {NULL, 0, 0};
    Counts c = {NULL, 0, NULL, NULL, 0};
    if (names.ndim != 1 || names.itemsize != sizeof(int64_t) || names.format == NULL ||
        (strcmp(names.format, "l") != 0 && strcmp(names.format, "q") != 0) ||
        names.shape[0] != view.shape[0]) {
        PyErr_SetString(PyExc_TypeError, "shown must be an int64 vector, one entry a row");
        goto done;
    }
    Py_ssize_t nrows = view.shape[0], width = view.shape[1], k_classes = width - 1;
    if (mine < 0 || theirs < 0 || mine >= k_classes || theirs >= k_classes) {
        PyErr_SetString(PyExc_ValueError, "no such class");
        goto done;
    }
    const double *data = view.buf;
    const int64_t *shown = names.buf;
    out = PyDict_New();
    if (out == NULL)
        goto done;
    Text s = text_of(text), skip = text_of(skip_obj);
    int have_words = 0;
    for (Py_ssize_t b = 0; b < PyTuple_GET_SIZE(specs); b++) {
        if (count_spec(PyTuple_GET_ITEM(specs, b), dict, unknown, &skip, &s, &words,
                       &have_words, &c, nrows) < 0)
            goto done;
        double squares = 0.0;
        for (Py_ssize_t j = 0; j < c.n; j++) {
            double tf = sublinear ? 1.0 + log((double)c.counts[j]) : (double)c.counts[j];
            double v = tf * data[(Py_ssize_t)c.rows[j] * width + k_classes];
            squares += v * v;
        }
        double scale = squares > 0.0 ? 1.0 / sqrt(squares) : 0.0;
        for (Py_ssize_t j = 0; scale > 0.0 && j < c.n; j++) {
            int64_t name = shown[c.rows[j]];
            if (name < 0)
                continue;
            double tf = sublinear ? 1.0 + log((double)c.counts[j]) : (double)c.counts[j];
            const double *r = data + (Py_ssize_t)c.rows[j] * width;
            double weight = tf * (r[mine] - r[theirs]) * scale;
            PyObject *key = PyLong_FromLongLong(name);
            if (key == NULL)
                goto done;
            PyObject *was = PyDict_GetItemWithError(out, key);
            PyObject *now = NULL;
            if (was != NULL)
                now = PyFloat_FromDouble(PyFloat_AS_DOUBLE(was) + weight);
            else if (!PyErr_Occurred())
                now = PyFloat_FromDouble(weight);
            int failed = now == NULL || PyDict_SetItem(out, key, now) < 0;
            Py_DECREF(key);
            Py_XDECREF(now);
            if (failed)
                goto done;
        }
        counts_free(&c);
        c.slot = NULL;
        c.rows = c.counts = NULL;
    }
    result = out;
    out = NULL;
done:
    Py_XDECREF(out);
    counts_free(&c);
    PyMem_Free(words.v);
    PyBuffer_Release(&names);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"cut_run", cut_run, METH_VARARGS, "Append the words of one run of Chinese text to out."},
    {"tokens", tokens, METH_VARARGS, "jieba's words of a text, less whitespace and skip."},
    {"block_counts", block_counts, METH_VARARGS, "Rows and counts of a block's terms in a text."},
    {"score_text", score_text, METH_VARARGS, "Class scores of a text, block by block."},
    {"contrast_text", contrast_text, METH_VARARGS,
     "Each shown term's share of one class's score less its share of another's."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "nlu._speedups", "Compiled inner loops of gridbot's NLU.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    if (PyType_Ready(&TrieType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&TrieType);
    if (PyModule_AddObject(m, "Trie", (PyObject *)&TrieType) < 0) {
        Py_DECREF(&TrieType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
