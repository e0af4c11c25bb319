/* Compiled inner loops of gridbot's message parsing (see nlu/speedups.py).
 *
 * Each function does exactly what a Python function of nlu/ does, and the tests check that
 * they agree on every training example:
 *   cut_run         nlu.segment.Segmenter._cut_run      (jieba's most probable path)
 *   tokens          nlu.features.jieba_tokens           (a text's words, less punctuation)
 *   count_chars     nlu.features.char_ngrams + lookup   (character n-grams, counted)
 *   count_words     nlu.features.word_ngrams + lookup   (word n-grams of given words, counted)
 *   score           nlu.scorer.LinearScorer             (TF-IDF blocks, dot product)
 * Term counts live in a dict {row: count} that keeps insertion order, as a Counter would.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

/* ---- cut_run(cost: dict, unknown: float, run: str, out: list) -> None ------------------ */

static int is_ascii_alnum(Py_UCS4 ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Append to out the words of text[start:stop], a run of jieba's "Chinese" characters, along
 * jieba's most probable path. With skip, words in that set are left out. */
static int cut_span(PyObject *cost, double unknown, PyObject *text, Py_ssize_t start,
                    Py_ssize_t stop, PyObject *out, PyObject *skip);

static int emit(PyObject *out, PyObject *skip, PyObject *text, Py_ssize_t a, Py_ssize_t b) {
    PyObject *w = PyUnicode_Substring(text, a, b);
    if (w == NULL)
        return -1;
    int drop = skip != NULL ? PySet_Contains(skip, w) : 0;
    int rc = drop < 0 ? -1 : (drop ? 0 : PyList_Append(out, w));
    Py_DECREF(w);
    return rc;
}

static int cut_span(PyObject *cost, double unknown, PyObject *text, Py_ssize_t start,
                    Py_ssize_t stop, PyObject *out, PyObject *skip) {
    Py_ssize_t n = stop - start;
    double *score = PyMem_Calloc(n + 1, sizeof(double));
    Py_ssize_t *end = PyMem_Malloc((n + 1) * sizeof(Py_ssize_t));
    if (score == NULL || end == NULL) {
        PyMem_Free(score);
        PyMem_Free(end);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = n - 1; k >= 0; k--) {
        double best = unknown + score[k + 1];
        Py_ssize_t best_end = -1;
        for (Py_ssize_t i = k; i < n; i++) {
            PyObject *frag = PyUnicode_Substring(text, start + k, start + i + 1);
            if (frag == NULL)
                goto error;
            PyObject *c = PyDict_GetItemWithError(cost, frag); /* borrowed */
            Py_DECREF(frag);
            if (c == NULL) {
                if (PyErr_Occurred())
                    goto error;
                break; /* not a word nor the prefix of one */
            }
            if (c == Py_None)
                continue; /* a prefix only */
            double s = PyFloat_AsDouble(c) + score[i + 1];
            if (s == -1.0 && PyErr_Occurred())
                goto error;
            /* jieba takes max over (score, end): equal scores go to the longer word */
            if (best_end < 0 || s >= best) {
                best = s;
                best_end = i;
            }
        }
        score[k] = best;
        end[k] = best_end >= 0 ? best_end : k;
    }
    /* Walk the path; like jieba, single ASCII letters or digits in a row are joined. */
    Py_ssize_t x = 0, buf_start = -1;
    while (x < n) {
        Py_ssize_t y = end[x] + 1;
        if (y - x == 1 && is_ascii_alnum(PyUnicode_READ_CHAR(text, start + x))) {
            if (buf_start < 0)
                buf_start = x;
        } else {
            if (buf_start >= 0) {
                if (emit(out, skip, text, start + buf_start, start + x) < 0)
                    goto error;
                buf_start = -1;
            }
            if (emit(out, skip, text, start + x, start + y) < 0)
                goto error;
        }
        x = y;
    }
    if (buf_start >= 0 && emit(out, skip, text, start + buf_start, stop) < 0)
        goto error;
    PyMem_Free(score);
    PyMem_Free(end);
    return 0;
error:
    PyMem_Free(score);
    PyMem_Free(end);
    return -1;
}

static PyObject *cut_run(PyObject *self, PyObject *args) {
    PyObject *cost, *run, *out;
    double unknown;
    if (!PyArg_ParseTuple(args, "O!dUO!", &PyDict_Type, &cost, &unknown, &run,
                          &PyList_Type, &out))
        return NULL;
    if (cut_span(cost, unknown, run, 0, PyUnicode_GET_LENGTH(run), out, NULL) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* jieba's "Chinese" run characters: [\u4e00-\u9fd5a-zA-Z0-9+#&._%-] */
static int in_run(Py_UCS4 ch) {
    return (ch >= 0x4e00 && ch <= 0x9fd5) || is_ascii_alnum(ch) || ch == '+' || ch == '#' ||
           ch == '&' || ch == '.' || ch == '_' || ch == '%' || ch == '-';
}

/* tokens(cost: dict, unknown: float, text: str, skip: frozenset) -> list[str]
 * jieba's words of text (HMM off) without whitespace and without the words in skip. */
static PyObject *tokens(PyObject *self, PyObject *args) {
    PyObject *cost, *text, *skip;
    double unknown;
    if (!PyArg_ParseTuple(args, "O!dUO!", &PyDict_Type, &cost, &unknown, &text,
                          &PyFrozenSet_Type, &skip))
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0;
    while (i < n) {
        Py_UCS4 ch = PyUnicode_READ_CHAR(text, i);
        if (in_run(ch)) {
            Py_ssize_t j = i + 1;
            while (j < n && in_run(PyUnicode_READ_CHAR(text, j)))
                j++;
            if (cut_span(cost, unknown, text, i, j, out, skip) < 0)
                goto error;
            i = j;
        } else {
            /* outside runs jieba gives each character alone (and "\r\n" together) */
            if (!Py_UNICODE_ISSPACE(ch) && emit(out, skip, text, i, i + 1) < 0)
                goto error;
            i++;
        }
    }
    return out;
error:
    Py_DECREF(out);
    return NULL;
}

/* ---- counting ----------------------------------------------------------------------- */

/* counts[vocab[term]] += 1 when term is in vocab. Steals nothing; term stays the caller's. */
static int count_term(PyObject *vocab, PyObject *counts, PyObject *term) {
    PyObject *row = PyDict_GetItemWithError(vocab, term); /* borrowed */
    if (row == NULL)
        return PyErr_Occurred() ? -1 : 0;
    PyObject *seen = PyDict_GetItemWithError(counts, row);
    if (seen == NULL && PyErr_Occurred())
        return -1;
    long before = seen == NULL ? 0 : PyLong_AsLong(seen);
    if (before == -1 && PyErr_Occurred())
        return -1;
    PyObject *after = PyLong_FromLong(before + 1);
    if (after == NULL)
        return -1;
    int rc = PyDict_SetItem(counts, row, after);
    Py_DECREF(after);
    return rc;
}

static int count_slice(PyObject *vocab, PyObject *counts, PyObject *text, Py_ssize_t start,
                       Py_ssize_t stop) {
    PyObject *term = PyUnicode_Substring(text, start, stop);
    if (term == NULL)
        return -1;
    int rc = count_term(vocab, counts, term);
    Py_DECREF(term);
    return rc;
}

/* count_chars(vocab: dict, counts: dict, text: str, lo: int, hi: int, within_words: bool) */
static PyObject *count_chars(PyObject *self, PyObject *args) {
    PyObject *vocab, *counts, *text;
    Py_ssize_t lo, hi;
    int within_words;
    if (!PyArg_ParseTuple(args, "O!O!Unnp", &PyDict_Type, &vocab, &PyDict_Type, &counts, &text,
                          &lo, &hi, &within_words))
        return NULL;
    if (lo < 1 || hi < lo) {
        PyErr_SetString(PyExc_ValueError, "need 1 <= lo <= hi");
        return NULL;
    }
    if (!within_words) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(text);
        for (Py_ssize_t n = lo; n <= hi; n++)
            for (Py_ssize_t i = 0; i + n <= len; i++)
                if (count_slice(vocab, counts, text, i, i + n) < 0)
                    return NULL;
        Py_RETURN_NONE;
    }
    PyObject *words = PyUnicode_Split(text, NULL, -1); /* str.split(): any whitespace */
    if (words == NULL)
        return NULL;
    for (Py_ssize_t w = 0; w < PyList_GET_SIZE(words); w++) {
        PyObject *padded = PyUnicode_FromFormat(" %U ", PyList_GET_ITEM(words, w));
        if (padded == NULL)
            goto error;
        Py_ssize_t size = PyUnicode_GET_LENGTH(padded);
        for (Py_ssize_t n = lo; n <= hi; n++) {
            if (size <= n) { /* a word shorter than n counts once, whole */
                if (count_slice(vocab, counts, padded, 0, size) < 0) {
                    Py_DECREF(padded);
                    goto error;
                }
                break;
            }
            for (Py_ssize_t i = 0; i + n <= size; i++) {
                if (count_slice(vocab, counts, padded, i, i + n) < 0) {
                    Py_DECREF(padded);
                    goto error;
                }
            }
        }
        Py_DECREF(padded);
    }
    Py_DECREF(words);
    Py_RETURN_NONE;
error:
    Py_DECREF(words);
    return NULL;
}

/* count_words(vocab: dict, counts: dict, words: list[str], lo: int, hi: int) */
static PyObject *count_words(PyObject *self, PyObject *args) {
    PyObject *vocab, *counts, *words;
    Py_ssize_t lo, hi;
    if (!PyArg_ParseTuple(args, "O!O!O!nn", &PyDict_Type, &vocab, &PyDict_Type, &counts,
                          &PyList_Type, &words, &lo, &hi))
        return NULL;
    if (lo < 1 || hi < lo) {
        PyErr_SetString(PyExc_ValueError, "need 1 <= lo <= hi");
        return NULL;
    }
    Py_ssize_t len = PyList_GET_SIZE(words);
    PyObject *space = PyUnicode_FromString(" ");
    if (space == NULL)
        return NULL;
    for (Py_ssize_t n = lo; n <= hi; n++) {
        for (Py_ssize_t i = 0; i + n <= len; i++) {
            int rc;
            if (n == 1) {
                rc = count_term(vocab, counts, PyList_GET_ITEM(words, i));
            } else {
                PyObject *part = PyList_GetSlice(words, i, i + n);
                PyObject *term = part == NULL ? NULL : PyUnicode_Join(space, part);
                Py_XDECREF(part);
                rc = term == NULL ? -1 : count_term(vocab, counts, term);
                Py_XDECREF(term);
            }
            if (rc < 0) {
                Py_DECREF(space);
                return NULL;
            }
        }
    }
    Py_DECREF(space);
    Py_RETURN_NONE;
}

/* ---- score(rows, counts: dict, starts: list[int], sublinear: bool) -> list[float] ----------
 * rows: a C-contiguous float64 matrix (as a buffer) with one row per term: idf * weight for
 * each of the K classes, then idf. Counted rows are taken in the dict's order; a block begins
 * at each index in ``starts``. Returns every class's sum over blocks of
 * sum(tf * idf * weight) / sqrt(sum((tf * idf) ** 2)), tf = 1 + log(count) when sublinear. */
static PyObject *score(PyObject *self, PyObject *args) {
    PyObject *rows_obj, *counts, *starts;
    int sublinear;
    if (!PyArg_ParseTuple(args, "OO!O!p", &rows_obj, &PyDict_Type, &counts, &PyList_Type,
                          &starts, &sublinear))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(rows_obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND) < 0)
        return NULL;
    PyObject *result = NULL;
    double *sums = NULL, *block = NULL;
    if (view.ndim != 2 || view.itemsize != sizeof(double) || view.format == NULL ||
        strcmp(view.format, "d") != 0 || view.shape[1] < 2) {
        PyErr_SetString(PyExc_TypeError, "rows must be a 2-d float64 matrix");
        goto done;
    }
    Py_ssize_t nrows = view.shape[0], width = view.shape[1], k_classes = width - 1;
    const double *data = view.buf;
    sums = PyMem_Calloc(k_classes, sizeof(double));
    block = PyMem_Calloc(k_classes, sizeof(double));
    if (sums == NULL || block == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t nstarts = PyList_GET_SIZE(starts), next_start = 1, index = 0, pos = 0;
    Py_ssize_t boundary = nstarts > 1 ? PyLong_AsSsize_t(PyList_GET_ITEM(starts, 1)) : -1;
    if (boundary == -1 && PyErr_Occurred())
        goto done;
    double squares = 0.0;
    PyObject *key, *value;
    while (PyDict_Next(counts, &pos, &key, &value)) {
        if (index == boundary) { /* close the block that ends here */
            double scale = squares > 0.0 ? 1.0 / sqrt(squares) : 0.0;
            for (Py_ssize_t c = 0; c < k_classes; c++) {
                sums[c] += block[c] * scale;
                block[c] = 0.0;
            }
            squares = 0.0;
            next_start++;
            boundary = next_start < nstarts ? PyLong_AsSsize_t(PyList_GET_ITEM(starts, next_start))
                                            : -1;
            if (boundary == -1 && PyErr_Occurred())
                goto done;
        }
        Py_ssize_t row = PyLong_AsSsize_t(key);
        long count = PyLong_AsLong(value);
        if ((row == -1 || count == -1) && PyErr_Occurred())
            goto done;
        if (row < 0 || row >= nrows || count < 1) {
            PyErr_SetString(PyExc_ValueError, "a counted row is out of range");
            goto done;
        }
        double tf = sublinear ? 1.0 + log((double)count) : (double)count;
        const double *r = data + row * width;
        for (Py_ssize_t c = 0; c < k_classes; c++)
            block[c] += tf * r[c];
        double v = tf * r[k_classes];
        squares += v * v;
        index++;
    }
    if (index > 0) {
        double scale = squares > 0.0 ? 1.0 / sqrt(squares) : 0.0;
        for (Py_ssize_t c = 0; c < k_classes; c++)
            sums[c] += block[c] * scale;
    }
    result = PyList_New(k_classes);
    if (result == NULL)
        goto done;
    for (Py_ssize_t c = 0; c < k_classes; c++) {
        PyObject *f = PyFloat_FromDouble(sums[c]);
        if (f == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, c, f);
    }
done:
    PyMem_Free(sums);
    PyMem_Free(block);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"cut_run", cut_run, METH_VARARGS, "Append the words of one run of Chinese text to out."},
    {"tokens", tokens, METH_VARARGS, "jieba's words of a text, less whitespace and skip."},
    {"count_chars", count_chars, METH_VARARGS, "Count the character n-grams found in vocab."},
    {"count_words", count_words, METH_VARARGS, "Count the word n-grams found in vocab."},
    {"score", score, METH_VARARGS, "Class scores of counted TF-IDF terms, block by block."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "nlu._speedups", "Compiled inner loops of gridbot's NLU.", -1,
    methods,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
