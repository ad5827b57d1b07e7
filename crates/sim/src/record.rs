//! Recording a game and viewing it: a self-contained HTML page (no network, no files beside
//! it) that draws the stage and both fighters frame by frame, with play, pause and a slider.

use crate::game::Game;
use serde::Serialize;

/// One recorded frame: per player x, y, facing, action, percent, stocks, intangible.
#[derive(Clone, Debug, Serialize)]
pub struct Frame {
    /// Frame number.
    pub f: i32,
    /// Players: [x, y, facing, action, percent, stocks, intangible].
    pub p: [[f32; 7]; 2],
}

/// A recorded game.
#[derive(Clone, Debug, Serialize)]
pub struct Recording {
    /// Stage name.
    pub stage: String,
    /// Main platform edge.
    pub edge: f32,
    /// Platforms: [left, right, y].
    pub platforms: Vec<[f32; 3]>,
    /// Blast zones: left, right, top, bottom.
    pub blast: [f32; 4],
    /// The fighters' names.
    pub fighters: [String; 2],
    /// Frames.
    pub frames: Vec<Frame>,
    /// The result, in words.
    pub result: String,
}

impl Recording {
    /// An empty recording of `game`'s setup.
    pub fn new(game: &Game) -> Recording {
        Recording {
            stage: game.stage.name.to_string(),
            edge: game.stage.edge,
            platforms: game
                .stage
                .platforms
                .iter()
                .map(|p| [p.left, p.right, p.y])
                .collect(),
            blast: game.stage.blast,
            fighters: game
                .players
                .each_ref()
                .map(|p| p.fighter.character.name().unwrap_or("?").to_string()),
            frames: Vec::new(),
            result: String::new(),
        }
    }

    /// Adds the game's current frame.
    pub fn push(&mut self, game: &Game) {
        let p = game.players.each_ref().map(|p| {
            [
                p.x,
                p.y,
                p.facing,
                p.action() as f32,
                p.percent.floor(),
                p.stocks as f32,
                p.intangible() as u8 as f32,
            ]
        });
        self.frames.push(Frame { f: game.frame, p });
    }

    /// The recording as a self-contained HTML viewer.
    pub fn html(&self) -> String {
        let data = serde_json::to_string(self).expect("a recording serialises");
        VIEWER.replace("/*DATA*/null", &data.replace("</", "<\\/"))
    }
}

const VIEWER: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>exphil simulator replay</title>
<style>body{font:14px sans-serif;background:#111;color:#eee;margin:16px}canvas{background:#1b2330;display:block}
#bar{margin:8px 0}input[type=range]{width:640px}</style></head>
<body><div id="title"></div><canvas id="c" width="960" height="540"></canvas>
<div id="bar"><button id="play">pause</button> <input id="t" type="range" min="0" value="0"> <span id="info"></span></div>
<script>
const R = /*DATA*/null;
const c = document.getElementById('c'), g = c.getContext('2d');
const t = document.getElementById('t'), info = document.getElementById('info');
document.getElementById('title').textContent = R.fighters[0] + ' vs ' + R.fighters[1] + ' on ' + R.stage + ' \u2014 ' + R.result;
t.max = R.frames.length - 1;
const [L, Rt, T, B] = R.blast, sx = c.width / (Rt - L), sy = c.height / (T - B);
const X = x => (x - L) * sx, Y = y => c.height - (y - B) * sy;
let playing = true, i = 0;
document.getElementById('play').onclick = e => { playing = !playing; e.target.textContent = playing ? 'pause' : 'play'; };
t.oninput = () => { i = +t.value; draw(); };
function draw() {
  const f = R.frames[i]; if (!f) return;
  g.clearRect(0, 0, c.width, c.height);
  g.fillStyle = '#556'; g.fillRect(X(-R.edge), Y(0), X(R.edge) - X(-R.edge), 30);
  g.strokeStyle = '#99a'; g.lineWidth = 3;
  for (const [l, r, y] of R.platforms) { g.beginPath(); g.moveTo(X(l), Y(y)); g.lineTo(X(r), Y(y)); g.stroke(); }
  const colors = ['#e55', '#59f'];
  f.p.forEach((p, k) => {
    const [x, y, face, act, pct, stocks, intan] = p;
    g.globalAlpha = intan ? 0.4 : 1; g.fillStyle = colors[k];
    g.fillRect(X(x) - 6, Y(y) - 24, 12, 24);
    g.fillRect(X(x) + (face > 0 ? 6 : -10), Y(y) - 18, 4, 4);
    g.globalAlpha = 1;
    g.fillText('P' + (k + 1) + ' ' + pct + '%  stocks ' + stocks + '  action ' + act, 10 + k * 320, 20);
  });
  info.textContent = 'frame ' + f.f;
  t.value = i;
}
g.font = '14px sans-serif';
setInterval(() => { if (playing && i < R.frames.length - 1) { i++; draw(); } }, 1000 / 60);
draw();
</script></body></html>
"#;
