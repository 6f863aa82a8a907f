// Optimizer loops, written once and compiled per ISA: each kernels_<isa>.cc includes this
// file inside its own namespace. No include guard and no standard-library calls, for the
// reason given in src/backends/cpu/vec/float_loops_impl.h: an inline std function would be
// a weak symbol shared across ISAs. Everything is file-local.
//
// Each statement below mirrors one in-place op of PyTorch's single-tensor implementation
// (torch/optim/*.py), in the same order, so every intermediate is rounded the same way.

// GCC does not vectorize sqrt without -fno-math-errno (not imposed on the project), so the
// loops with a square root run in blocks: a vectorizable pass fills a small buffer, the
// buffer's square roots are taken with the ISA's intrinsics, and a second pass finishes.
#if defined(__GNUC__) && !defined(__clang__)  // clang defaults to -fno-trapping-math
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

namespace {

constexpr int64_t kBlock = 256;  // elements per block: the buffers stay in L1

template <typename T>
void sqrt_block(T* x, int64_t n) {
  int64_t i = 0;
  if constexpr (sizeof(T) == 4) {
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_sqrt_ps(_mm512_loadu_ps(x + i)));
#endif
#if defined(__AVX__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
#endif
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
    for (; i < n; ++i) x[i] = __builtin_sqrtf(x[i]);
  } else {
#if defined(__AVX__)
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(x + i, _mm256_sqrt_pd(_mm256_loadu_pd(x + i)));
#endif
    for (; i + 2 <= n; i += 2) _mm_storeu_pd(x + i, _mm_sqrt_pd(_mm_loadu_pd(x + i)));
    for (; i < n; ++i) x[i] = __builtin_sqrt(x[i]);
  }
}

template <typename T>
void sgd(const SgdArgs<T>& a, int64_t n) {
  T* __restrict p = a.param;
  const T* __restrict g = a.grad;
  T* __restrict buf = a.buf;
  const T wd = a.weight_decay, mom = a.momentum, damp = a.one_minus_dampening, neg_lr = -a.lr;
  if (buf == nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      T d = g[i];
      if (wd != T(0)) d = d + wd * p[i];
      p[i] = p[i] + neg_lr * d;
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    T d = g[i];
    if (wd != T(0)) d = d + wd * p[i];
    T b;
    if (a.first_step) {
      b = d;
    } else {
      b = buf[i] * mom;
      b = b + damp * d;
    }
    buf[i] = b;
    const T step = a.nesterov ? d + mom * b : b;
    p[i] = p[i] + neg_lr * step;
  }
}

// The flags are template parameters so each variant is a branch-free loop GCC vectorizes.
template <typename T, bool kL2, bool kDecoupled, bool kAmsgrad>
void adam_loop(const AdamArgs<T>& a, int64_t n) {
  const T b1 = a.beta1, c1 = a.one_minus_beta1, b2 = a.beta2, c2 = a.one_minus_beta2;
  const T wd = a.weight_decay, eps = a.eps, bc2 = a.bias_correction2_sqrt;
  const T neg_step = -a.step_size, decay = a.decay_factor;
  T root[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t nb = n - i0 < kBlock ? n - i0 : kBlock;
    T* __restrict p = a.param + i0;
    const T* __restrict g = a.grad + i0;
    T* __restrict m = a.exp_avg + i0;
    T* __restrict v = a.exp_avg_sq + i0;
    T* __restrict r = root;
    for (int64_t i = 0; i < nb; ++i) {
      T pi = p[i];
      if constexpr (kDecoupled) {
        pi = pi * decay;
        p[i] = pi;
      }
      T gi = g[i];
      if constexpr (kL2) gi = gi + wd * pi;
      T mi = m[i] * b1;
      mi = mi + c1 * gi;
      T vi = v[i] * b2;
      vi = vi + c2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      r[i] = vi;
    }
    if constexpr (kAmsgrad) {
      T* __restrict vmax = a.max_exp_avg_sq + i0;
      for (int64_t i = 0; i < nb; ++i) {
        const T vd = vmax[i] > r[i] ? vmax[i] : r[i];
        vmax[i] = vd;
        r[i] = vd;
      }
    }
    sqrt_block(r, nb);
    for (int64_t i = 0; i < nb; ++i) {
      const T denom = r[i] / bc2 + eps;
      p[i] = p[i] + neg_step * m[i] / denom;
    }
  }
}

template <typename T>
void adam(const AdamArgs<T>& a, int64_t n) {
  const bool decay = a.weight_decay != T(0);
  const bool l2 = decay && !a.decoupled, dec = decay && a.decoupled;
  const bool ams = a.max_exp_avg_sq != nullptr;
  if (ams) {
    if (l2) return adam_loop<T, true, false, true>(a, n);
    if (dec) return adam_loop<T, false, true, true>(a, n);
    return adam_loop<T, false, false, true>(a, n);
  }
  if (l2) return adam_loop<T, true, false, false>(a, n);
  if (dec) return adam_loop<T, false, true, false>(a, n);
  return adam_loop<T, false, false, false>(a, n);
}

template <typename T>
void rmsprop(const RmspropArgs<T>& a, int64_t n) {
  const T alpha = a.alpha, c = a.one_minus_alpha, wd = a.weight_decay, eps = a.eps;
  const T mom = a.momentum, neg_lr = -a.lr;
  T root[kBlock], grad[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t nb = n - i0 < kBlock ? n - i0 : kBlock;
    T* __restrict p = a.param + i0;
    const T* __restrict g = a.grad + i0;
    T* __restrict sq = a.square_avg + i0;
    T* __restrict r = root;
    T* __restrict gd = grad;
    for (int64_t i = 0; i < nb; ++i) {
      T gi = g[i];
      if (wd != T(0)) gi = gi + wd * p[i];
      T s = sq[i] * alpha;
      s = s + c * gi * gi;
      sq[i] = s;
      gd[i] = gi;
      r[i] = s;
    }
    if (a.grad_avg != nullptr) {
      T* __restrict ga = a.grad_avg + i0;
      for (int64_t i = 0; i < nb; ++i) {
        T gm = ga[i] * alpha;
        gm = gm + c * gd[i];
        ga[i] = gm;
        r[i] = r[i] + T(-1) * gm * gm;
      }
    }
    sqrt_block(r, nb);
    if (a.buf != nullptr) {
      T* __restrict buf = a.buf + i0;
      for (int64_t i = 0; i < nb; ++i) {
        const T avg = r[i] + eps;
        T b = buf[i] * mom;
        b = b + T(1) * gd[i] / avg;
        buf[i] = b;
        p[i] = p[i] + neg_lr * b;
      }
    } else {
      for (int64_t i = 0; i < nb; ++i) {
        const T avg = r[i] + eps;
        p[i] = p[i] + neg_lr * gd[i] / avg;
      }
    }
  }
}

template <typename T>
void adagrad(const AdagradArgs<T>& a, int64_t n) {
  const T wd = a.weight_decay, eps = a.eps, neg_clr = -a.clr;
  T root[kBlock], grad[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t nb = n - i0 < kBlock ? n - i0 : kBlock;
    T* __restrict p = a.param + i0;
    const T* __restrict g = a.grad + i0;
    T* __restrict sum = a.sum + i0;
    T* __restrict r = root;
    T* __restrict gd = grad;
    for (int64_t i = 0; i < nb; ++i) {
      T gi = g[i];
      if (wd != T(0)) gi = gi + wd * p[i];
      const T s = sum[i] + T(1) * gi * gi;
      sum[i] = s;
      gd[i] = gi;
      r[i] = s;
    }
    sqrt_block(r, nb);
    for (int64_t i = 0; i < nb; ++i) p[i] = p[i] + neg_clr * gd[i] / (r[i] + eps);
  }
}

// Adadelta (Zeiler 2012) in torch's order: square_avg = rho * square_avg + (1 - rho) g^2;
// delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g; acc_delta = rho * acc_delta +
// (1 - rho) delta^2; param -= lr * delta. Two square roots per element, both taken in the
// block pass.
template <typename T>
void adadelta(const AdadeltaArgs<T>& a, int64_t n) {
  const T wd = a.weight_decay, eps = a.eps, rho = a.rho, c = a.one_minus_rho, neg_lr = -a.lr;
  T std_root[kBlock], delta_root[kBlock], grad[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t nb = n - i0 < kBlock ? n - i0 : kBlock;
    T* __restrict p = a.param + i0;
    const T* __restrict g = a.grad + i0;
    T* __restrict sq = a.square_avg + i0;
    T* __restrict acc = a.acc_delta + i0;
    T* __restrict sr = std_root;
    T* __restrict dr = delta_root;
    T* __restrict gd = grad;
    for (int64_t i = 0; i < nb; ++i) {
      T gi = g[i];
      if (wd != T(0)) gi = gi + wd * p[i];
      T s = sq[i] * rho;
      s = s + c * gi * gi;
      sq[i] = s;
      gd[i] = gi;
      sr[i] = s + eps;
      dr[i] = acc[i] + eps;
    }
    sqrt_block(sr, nb);
    sqrt_block(dr, nb);
    for (int64_t i = 0; i < nb; ++i) {
      T d = dr[i] / sr[i];
      d = d * gd[i];
      T ad = acc[i] * rho;
      ad = ad + c * d * d;
      acc[i] = ad;
      p[i] = p[i] + neg_lr * d;
    }
  }
}

template <typename T>
Table<T> make_table_t() {
  Table<T> t;
  t.sgd = &sgd<T>;
  t.adam = &adam<T>;
  t.rmsprop = &rmsprop<T>;
  t.adagrad = &adagrad<T>;
  t.adadelta = &adadelta<T>;
  return t;
}

}  // namespace

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
