//! Small dense vector and matrix helpers shared by the orbit modules.
//!
//! Everything here is three-vectors or matrices of at most 6 x 6, so plain arrays beat a general linear-algebra
//! dependency in both speed and compile time.

pub(crate) type V3 = [f64; 3];
pub(crate) type M3 = [[f64; 3]; 3];

pub(crate) fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub(crate) fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn scale(s: f64, a: V3) -> V3 {
    [s * a[0], s * a[1], s * a[2]]
}

pub(crate) fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn norm(a: V3) -> f64 {
    dot(a, a).sqrt()
}

pub(crate) fn unit(a: V3) -> V3 {
    scale(1.0 / norm(a), a)
}

/// Angle between two vectors (rad), accurate at all separations (atan2 of |a x b| and a . b).
pub(crate) fn angle(a: V3, b: V3) -> f64 {
    norm(cross(a, b)).atan2(dot(a, b))
}

pub(crate) fn mat_vec(m: &M3, v: V3) -> V3 {
    [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
}

pub(crate) fn mat_mul(a: &M3, b: &M3) -> M3 {
    let mut c = [[0.0; 3]; 3];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, cij) in row.iter_mut().enumerate() {
            *cij = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

pub(crate) fn transpose(m: &M3) -> M3 {
    let mut t = [[0.0; 3]; 3];
    for (i, row) in m.iter().enumerate() {
        for (j, mij) in row.iter().enumerate() {
            t[j][i] = *mij;
        }
    }
    t
}

/// Rotation of the frame about its z axis by `angle` (rad): Vallado's ROT3 (4th ed. sec. 3.2).
pub(crate) fn rot3(angle: f64) -> M3 {
    let (s, c) = angle.sin_cos();
    [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]
}

/// Inverse of a 3 x 3 matrix by cofactors; `None` when it is singular to working precision.
pub(crate) fn inverse3(m: &M3) -> Option<M3> {
    let c0 = cross(m[1], m[2]);
    let c1 = cross(m[2], m[0]);
    let c2 = cross(m[0], m[1]);
    let det = dot(m[0], c0);
    let scale_ref = norm(m[0]) * norm(m[1]) * norm(m[2]);
    if det.abs() <= 1e-14 * scale_ref || !det.is_finite() {
        return None;
    }
    // The inverse's columns are the cofactor rows divided by the determinant.
    let mut inv = [[0.0; 3]; 3];
    for i in 0..3 {
        inv[i] = [c0[i] / det, c1[i] / det, c2[i] / det];
    }
    Some(inv)
}

/// Inverse of a symmetric positive definite 6 x 6 matrix by Cholesky factorisation; `None` when it is not
/// positive definite to working precision.
pub(crate) fn spd_inverse6(a: &[[f64; 6]; 6]) -> Option<[[f64; 6]; 6]> {
    let l = cholesky6(a)?;
    let mut inv = [[0.0; 6]; 6];
    for j in 0..6 {
        let mut e = [0.0; 6];
        e[j] = 1.0;
        let x = cholesky_solve6(&l, e);
        for i in 0..6 {
            inv[i][j] = x[i];
        }
    }
    Some(inv)
}

/// Solves `a x = b` for a symmetric positive definite 6 x 6 `a`.
pub(crate) fn spd_solve6(a: &[[f64; 6]; 6], b: [f64; 6]) -> Option<[f64; 6]> {
    cholesky6(a).map(|l| cholesky_solve6(&l, b))
}

/// Solves `a x = b` for a symmetric positive definite `n x n` matrix `a` (row-major) by Cholesky factorisation
/// and returns `x` with `ln det a` (twice the log of the factor's diagonal); `None` when `a` is not positive
/// definite to working precision.
pub(crate) fn spd_solve_log_det(mut a: Vec<f64>, b: &[f64]) -> Option<(Vec<f64>, f64)> {
    let n = b.len();
    debug_assert_eq!(a.len(), n * n);
    // In place: the lower triangle becomes L with a = L L^T.
    for j in 0..n {
        let d = a[j * n + j] - (0..j).map(|k| a[j * n + k].powi(2)).sum::<f64>();
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let s = a[i * n + j] - (0..j).map(|k| a[i * n + k] * a[j * n + k]).sum::<f64>();
            a[i * n + j] = s / d;
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| a[i * n + k] * y[k]).sum::<f64>()) / a[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| a[k * n + i] * x[k]).sum::<f64>()) / a[i * n + i];
    }
    let log_det = 2.0 * (0..n).map(|i| a[i * n + i].ln()).sum::<f64>();
    Some((x, log_det))
}

fn cholesky6(a: &[[f64; 6]; 6]) -> Option<[[f64; 6]; 6]> {
    let mut l = [[0.0; 6]; 6];
    for i in 0..6 {
        for j in 0..=i {
            let s: f64 = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    Some(l)
}

fn cholesky_solve6(l: &[[f64; 6]; 6], b: [f64; 6]) -> [f64; 6] {
    let mut y = [0.0; 6];
    for i in 0..6 {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0; 6];
    for i in (0..6).rev() {
        x[i] = (y[i] - (i + 1..6).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse3_round_trip() {
        let m = [[2.0, 1.0, 0.5], [0.3, 3.0, 1.0], [0.0, 0.2, 1.5]];
        let inv = inverse3(&m).expect("regular matrix");
        let id = mat_mul(&m, &inv);
        for (i, row) in id.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((v - expected).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn spd_inverse_round_trip() {
        let mut a = [[0.0; 6]; 6];
        for (i, row) in a.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = 1.0 / (1.0 + i as f64 + j as f64) + if i == j { 1.0 } else { 0.0 };
            }
        }
        let inv = spd_inverse6(&a).expect("positive definite");
        for (i, row) in a.iter().enumerate() {
            for j in 0..6 {
                let v: f64 = row
                    .iter()
                    .zip(&inv)
                    .map(|(aik, inv_k)| aik * inv_k[j])
                    .sum();
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((v - expected).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn general_spd_solve_and_log_det() {
        // [[4, 2], [2, 3]]: det 8, solution of [2, 1] is [0.5, 0].
        let (x, log_det) = spd_solve_log_det(vec![4.0, 2.0, 2.0, 3.0], &[2.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15);
        assert!((log_det - 8f64.ln()).abs() < 1e-14);
        assert!(spd_solve_log_det(vec![1.0, 2.0, 2.0, 1.0], &[1.0, 1.0]).is_none());
    }
}
