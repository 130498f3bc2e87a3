/*
 * qoi2png: converts every QOI image of the input set "in" (items in
 * subfolders are ignored) to a PNG in the output set "out" (X.qoi becomes
 * X.png, any other name gets ".png" appended; the key is kept). RGBA images become PNG colour type 6, RGB
 * images type 2, 8 bits per channel.
 *
 * Own code throughout: a QOI decoder (qoiformat.org specification), PNG
 * row filters chosen per row by the minimum-sum-of-absolute-differences
 * heuristic, and a deflate compressor (LZ77 over a 32 KiB window with hash
 * chains, fixed Huffman codes) in a zlib stream.
 */
#include "util.h"

/* ---- QOI ---- */

struct image {
	uint32_t w, h;
	unsigned channels; /* 3 or 4 */
	unsigned char *px; /* w*h*channels bytes */
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static struct image decode_qoi(const char *name, const unsigned char *d, size_t len)
{
	static const unsigned char end_marker[8] = {0, 0, 0, 0, 0, 0, 0, 1};
	if (len < 14 + 8 || memcmp(d, "qoif", 4) != 0)
		die("%s: not a QOI image", name);
	struct image im = {be32(d + 4), be32(d + 8), d[12], NULL};
	if (im.w == 0 || im.h == 0 || (im.channels != 3 && im.channels != 4) || d[13] > 1)
		die("%s: bad QOI header", name);
	/* A chunk byte encodes at most 62 pixels (a run): refuse sizes the
	 * data cannot hold before allocating for them. */
	if ((uint64_t)im.w * im.h > 400000000u || (uint64_t)im.w * im.h > (uint64_t)(len - 22) * 62)
		die("%s: %ux%u pixels cannot come from %zu bytes", name, im.w, im.h, len);
	if (memcmp(d + len - 8, end_marker, 8) != 0)
		die("%s: missing QOI end marker", name);
	size_t npx = (size_t)im.w * im.h, p = 14, end = len - 8;
	im.px = xmalloc(npx * im.channels);
	unsigned char index[64][4] = {{0}};
	unsigned char px[4] = {0, 0, 0, 255};
	unsigned run = 0;
	for (size_t i = 0; i < npx; i++) {
		if (run > 0) {
			run--;
		} else {
			if (p >= end)
				die("%s: QOI data ends after %zu of %zu pixels", name, i, npx);
			unsigned b1 = d[p++];
			if (b1 == 0xfe || b1 == 0xff) {
				size_t need = b1 == 0xfe ? 3 : 4;
				if (end - p < need)
					die("%s: truncated QOI chunk", name);
				memcpy(px, d + p, need);
				p += need;
			} else if ((b1 >> 6) == 0) { /* QOI_OP_INDEX */
				memcpy(px, index[b1], 4);
			} else if ((b1 >> 6) == 1) { /* QOI_OP_DIFF */
				px[0] += ((b1 >> 4) & 3) - 2;
				px[1] += ((b1 >> 2) & 3) - 2;
				px[2] += (b1 & 3) - 2;
			} else if ((b1 >> 6) == 2) { /* QOI_OP_LUMA */
				if (p >= end)
					die("%s: truncated QOI chunk", name);
				unsigned b2 = d[p++];
				int vg = (int)(b1 & 0x3f) - 32;
				px[0] += vg - 8 + ((b2 >> 4) & 0x0f);
				px[1] += vg;
				px[2] += vg - 8 + (b2 & 0x0f);
			} else { /* QOI_OP_RUN */
				run = b1 & 0x3f;
			}
			memcpy(index[(px[0] * 3 + px[1] * 5 + px[2] * 7 + px[3] * 11) % 64], px, 4);
		}
		memcpy(im.px + i * im.channels, px, im.channels);
	}
	return im;
}

/* ---- checksums ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc32(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t adler32(const unsigned char *p, size_t n)
{
	uint32_t a = 1, b = 0;
	while (n) {
		size_t k = n < 5552 ? n : 5552; /* no overflow before the modulo */
		n -= k;
		while (k--) {
			a += *p++;
			b += a;
		}
		a %= 65521;
		b %= 65521;
	}
	return b << 16 | a;
}

/* ---- deflate: LZ77 + fixed Huffman codes (RFC 1951) ---- */

struct bits {
	struct buf out;
	uint64_t acc;
	unsigned n;
};

/* put writes the low count bits of v, least significant first. */
static void put(struct bits *b, uint32_t v, unsigned count)
{
	b->acc |= (uint64_t)v << b->n;
	b->n += count;
	while (b->n >= 8) {
		unsigned char c = (unsigned char)b->acc;
		buf_add(&b->out, &c, 1);
		b->acc >>= 8;
		b->n -= 8;
	}
}

/* put_code writes a Huffman code, which deflate stores most significant
 * bit first. */
static void put_code(struct bits *b, uint32_t code, unsigned len)
{
	uint32_t r = 0;
	for (unsigned i = 0; i < len; i++)
		r |= ((code >> i) & 1) << (len - 1 - i);
	put(b, r, len);
}

static void put_literal(struct bits *b, unsigned v) /* 0..287, fixed code */
{
	if (v < 144)
		put_code(b, 0x30 + v, 8);
	else if (v < 256)
		put_code(b, 0x190 + v - 144, 9);
	else if (v < 280)
		put_code(b, v - 256, 7);
	else
		put_code(b, 0xc0 + v - 280, 8);
}

static const uint16_t len_base[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
				      35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
				      3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129,
				       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
				       6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
				       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static void put_match(struct bits *b, unsigned len, unsigned dist)
{
	int i = 28;
	while (len_base[i] > len)
		i--;
	put_literal(b, 257 + (unsigned)i);
	put(b, len - len_base[i], len_extra[i]);
	int j = 29;
	while (dist_base[j] > dist)
		j--;
	put_code(b, (uint32_t)j, 5);
	put(b, dist - dist_base[j], dist_extra[j]);
}

#define WINDOW 32768
#define HASH_BITS 15
#define MAX_CHAIN 64
#define MIN_MATCH 3
#define MAX_MATCH 258

static unsigned hash3(const unsigned char *p)
{
	return ((unsigned)p[0] << 16 ^ (unsigned)p[1] << 8 ^ p[2]) * 2654435761u >> (32 - HASH_BITS);
}

/* deflate compresses in[0..n) into one final fixed-Huffman block. */
static void deflate(struct bits *b, const unsigned char *in, size_t n)
{
	int32_t *head = xmalloc(sizeof(int32_t) << HASH_BITS);
	int32_t *prev = xmalloc(sizeof(int32_t) * WINDOW);
	for (size_t i = 0; i < (size_t)1 << HASH_BITS; i++)
		head[i] = -1;
	put(b, 1, 1); /* BFINAL */
	put(b, 1, 2); /* BTYPE = 01, fixed codes */
	size_t i = 0;
	while (i < n) {
		unsigned best = 0, dist = 0;
		if (n - i >= MIN_MATCH) {
			unsigned h = hash3(in + i);
			size_t limit = n - i < MAX_MATCH ? n - i : MAX_MATCH;
			int32_t cand = head[h];
			for (int chain = 0; cand >= 0 && i - (size_t)cand <= WINDOW && chain < MAX_CHAIN; chain++) {
				const unsigned char *a = in + cand, *c = in + i;
				unsigned l = 0;
				while (l < limit && a[l] == c[l])
					l++;
				if (l > best) {
					best = l;
					dist = (unsigned)(i - (size_t)cand);
					if (l == limit)
						break;
				}
				cand = prev[cand % WINDOW];
			}
		}
		size_t step = best >= MIN_MATCH ? best : 1;
		if (best >= MIN_MATCH)
			put_match(b, best, dist);
		else
			put_literal(b, in[i]);
		for (size_t k = 0; k < step; k++, i++) {
			if (n - i >= MIN_MATCH) {
				unsigned h = hash3(in + i);
				prev[i % WINDOW] = head[h];
				head[h] = (int32_t)i;
			}
		}
	}
	put_literal(b, 256); /* end of block */
	put(b, 0, 7);        /* flush to a byte boundary */
	free(head);
	free(prev);
}

/* ---- PNG ---- */

static int paeth(int a, int b, int c)
{
	int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
	return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* filter_rows returns the filtered image data: each row is a filter type
 * byte followed by the row filtered with it. */
static unsigned char *filter_rows(const struct image *im, size_t *len)
{
	size_t bpp = im->channels, stride = (size_t)im->w * bpp;
	unsigned char *out = xmalloc((stride + 1) * im->h);
	unsigned char *cand = xmalloc(5 * stride);
	for (uint32_t y = 0; y < im->h; y++) {
		const unsigned char *row = im->px + y * stride;
		const unsigned char *up = y ? row - stride : NULL;
		unsigned long best_sum = ~0ul;
		int best = 0;
		for (int f = 0; f < 5; f++) {
			unsigned char *c = cand + f * stride;
			unsigned long sum = 0;
			for (size_t x = 0; x < stride; x++) {
				int a = x >= bpp ? row[x - bpp] : 0, b = up ? up[x] : 0;
				int cc = up && x >= bpp ? up[x - bpp] : 0, pred = 0;
				switch (f) {
				case 1: pred = a; break;
				case 2: pred = b; break;
				case 3: pred = (a + b) / 2; break;
				case 4: pred = paeth(a, b, cc); break;
				}
				c[x] = (unsigned char)(row[x] - pred);
				sum += c[x] < 128 ? c[x] : 256 - c[x];
			}
			if (sum < best_sum) {
				best_sum = sum;
				best = f;
			}
		}
		unsigned char *o = out + y * (stride + 1);
		o[0] = (unsigned char)best;
		memcpy(o + 1, cand + best * stride, stride);
	}
	free(cand);
	*len = (stride + 1) * im->h;
	return out;
}

static void put_be32(struct buf *b, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	buf_add(b, c, 4);
}

static void chunk(struct buf *png, const char *type, const unsigned char *data, size_t len)
{
	if (len > 0x7fffffff)
		die("PNG chunk too large");
	put_be32(png, (uint32_t)len);
	size_t start = png->len;
	buf_add(png, type, 4);
	if (len)
		buf_add(png, data, len);
	put_be32(png, crc32(0, (unsigned char *)png->data + start, len + 4));
}

static struct buf encode_png(const struct image *im)
{
	struct buf png = {0};
	buf_add(&png, "\x89PNG\r\n\x1a\n", 8);
	unsigned char ihdr[13];
	for (int i = 0; i < 4; i++) {
		ihdr[i] = (unsigned char)(im->w >> (24 - 8 * i));
		ihdr[4 + i] = (unsigned char)(im->h >> (24 - 8 * i));
	}
	ihdr[8] = 8;                         /* bits per channel */
	ihdr[9] = im->channels == 4 ? 6 : 2; /* RGBA or RGB */
	ihdr[10] = ihdr[11] = ihdr[12] = 0;  /* deflate, adaptive filters, no interlace */
	chunk(&png, "IHDR", ihdr, sizeof ihdr);

	size_t raw_len;
	unsigned char *raw = filter_rows(im, &raw_len);
	struct bits z = {{0}, 0, 0};
	buf_add(&z.out, "\x78\x01", 2); /* zlib: deflate, 32 KiB window */
	deflate(&z, raw, raw_len);
	put_be32(&z.out, adler32(raw, raw_len));
	free(raw);
	chunk(&png, "IDAT", (unsigned char *)z.out.data, z.out.len);
	free(z.out.data);
	chunk(&png, "IEND", NULL, 0);
	return png;
}

int main(void)
{
	crc_init();
	struct file *files;
	size_t count = list_files("/in", &files);
	for (size_t i = 0; i < count; i++) {
		const char *name = files[i].name;
		char out[4096];
		size_t nl = strlen(name);
		if (nl > 4 && strcmp(name + nl - 4, ".qoi") == 0)
			nl -= 4;
		snprintf(out, sizeof out, "/out/%.*s.png", (int)nl, name);
		size_t len;
		unsigned char *data = read_file(files[i].path, &len);
		struct image im = decode_qoi(name, data, len);
		free(data);
		struct buf png = encode_png(&im);
		free(im.px);
		write_file(out, png.data, png.len);
		free(png.data);
		set_key(out, key_of(files[i].path));
	}
	return 0;
}
