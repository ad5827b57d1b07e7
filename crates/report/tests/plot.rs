//! The loss plot PNG and the terminal sparkline.

use exphil_report::plot::{
    loss_curve_png, sparkline, write_loss_curve_png, BACKGROUND, HEIGHT, PALETTE, WIDTH,
};

/// Decodes a PNG into (width, height, RGB bytes).
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

fn count(px: &[u8], color: [u8; 3]) -> usize {
    px.chunks_exact(3).filter(|p| *p == color).count()
}

#[test]
fn the_png_shows_every_series() {
    let train: Vec<(f64, f64)> = (0..200)
        .map(|i| {
            let x = i as f64 * 0.05;
            (x, 3.0 * (-x / 3.0).exp() + 0.4)
        })
        .collect();
    let mut val: Vec<(f64, f64)> = (1..=10).map(|e| (e as f64, 2.5 / e as f64 + 0.6)).collect();
    // Non-finite points are left out and do not wreck the scale.
    val.push((11.0, f64::NAN));
    val.push((12.0, f64::INFINITY));
    let ema: Vec<(f64, f64)> = (1..=10).map(|e| (e as f64, 2.2 / e as f64 + 0.7)).collect();
    let bytes = loss_curve_png(&[("train", &train), ("val", &val), ("val_ema", &ema)]);
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h, px) = decode(&bytes);
    assert_eq!((w, h), (WIDTH, HEIGHT));
    assert_eq!(px.len(), (w * h * 3) as usize);
    for (i, name) in ["train", "val", "val_ema"].iter().enumerate() {
        // More than the legend swatch (28x4 pixels): the curve itself is drawn.
        let n = count(&px, PALETTE[i]);
        assert!(n > 400, "{name}: {n} pixels of its colour");
    }
    assert_eq!(count(&px, PALETTE[3]), 0, "no fourth series");
    let background = count(&px, BACKGROUND);
    assert!(background > (w * h) as usize / 2, "mostly background");
    // Tick labels: ink to the left of the y axis and below the x axis.
    let ink = |x0: u32, x1: u32, y0: u32, y1: u32| {
        let mut n = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                let i = ((y * w + x) * 3) as usize;
                if px[i..i + 3] == [0, 0, 0] {
                    n += 1;
                }
            }
        }
        n
    };
    assert!(ink(0, 90, 30, 440) > 100, "y tick labels");
    assert!(ink(100, 780, 445, 475) > 100, "x tick labels");
}

#[test]
fn degenerate_inputs_still_render() {
    let one = [(3.0, 1.0)];
    let flat = [(0.0, 2.0), (1.0, 2.0), (2.0, 2.0)];
    let nothing = [(f64::NAN, 1.0), (1.0, f64::NEG_INFINITY)];
    for series in [
        vec![],
        vec![("one", &one[..])],
        vec![("flat", &flat[..])],
        vec![("nothing", &nothing[..])],
        vec![
            ("", &flat[..]),
            ("a rather long series name that is cut", &one[..]),
        ],
    ] {
        let (w, h, px) = decode(&loss_curve_png(&series));
        assert_eq!((w, h), (WIDTH, HEIGHT));
        for (i, (_, pts)) in series.iter().enumerate() {
            if pts.iter().any(|p| p.0.is_finite() && p.1.is_finite()) {
                assert!(count(&px, PALETTE[i]) > 112, "series {i} is drawn");
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("loss.png");
    write_loss_curve_png(&path, &[("flat", &flat[..])]).unwrap();
    assert_eq!(decode(&std::fs::read(&path).unwrap()).0, WIDTH);
}

#[test]
fn sparkline_follows_the_values() {
    let up: Vec<f64> = (0..8).map(f64::from).collect();
    assert_eq!(sparkline(&up, 8), "▁▂▃▄▅▆▇█");
    let down: Vec<f64> = up.iter().rev().copied().collect();
    assert_eq!(sparkline(&down, 20), "█▇▆▅▄▃▂▁");
    // Longer input is averaged into `width` buckets, still monotone.
    let long: Vec<f64> = (0..1000).map(|i| (i as f64).sqrt()).collect();
    let s: Vec<char> = sparkline(&long, 30).chars().collect();
    assert_eq!(s.len(), 30);
    assert_eq!((s[0], s[29]), ('▁', '█'));
    let order = "▁▂▃▄▅▆▇█";
    let rank = |c: char| order.chars().position(|o| o == c).unwrap();
    assert!(s.windows(2).all(|w| rank(w[0]) <= rank(w[1])), "{s:?}");
    assert_eq!(sparkline(&[2.0, 2.0, 2.0], 10), "▄▄▄");
    assert_eq!(sparkline(&[1.0, f64::NAN, 3.0], 10), "▁ █");
    assert_eq!(sparkline(&up, 0), "");
    assert_eq!(sparkline(&[], 5), "");
}
