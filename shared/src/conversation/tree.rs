//! A conversation's messages as a tree: each message names the one before it on its branch, so a
//! regenerated answer or an edited question is a sibling of the version it replaces. The active
//! branch runs from the first message to the conversation's current message.

use std::collections::HashMap;

/// What the tree needs of a message, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node<'a> {
    pub id: &'a str,
    pub parent_id: Option<&'a str>,
}

/// The messages from the first to `leaf`, in order (indices into `nodes`); empty without a leaf
/// or when the leaf is not among them. A cycle cannot be stored (parents are written first), but
/// a walk is bounded by the node count anyway.
pub fn branch(nodes: &[Node<'_>], leaf: Option<&str>) -> Vec<usize> {
    let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let mut path = Vec::new();
    let mut next = leaf.and_then(|id| index.get(id).copied());
    while let Some(at) = next {
        if path.len() > nodes.len() {
            break;
        }
        path.push(at);
        next = nodes[at].parent_id.and_then(|id| index.get(id).copied());
    }
    path.reverse();
    path
}

/// The versions of the message at `at`: every message with its parent, in creation order.
pub fn siblings<'a>(nodes: &[Node<'a>], at: usize) -> Vec<&'a str> {
    let parent = nodes[at].parent_id;
    nodes
        .iter()
        .filter(|n| n.parent_id == parent)
        .map(|n| n.id)
        .collect()
}

/// The end of the newest branch under `id` (the newest child, then its newest child, …): what
/// becomes current when a person switches to that version.
pub fn newest_leaf<'a>(nodes: &[Node<'a>], id: &'a str) -> &'a str {
    let mut at = id;
    for _ in 0..nodes.len() {
        match nodes.iter().rev().find(|n| n.parent_id == Some(at)) {
            Some(child) => at = child.id,
            None => break,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n<'a>(id: &'a str, parent: Option<&'a str>) -> Node<'a> {
        Node {
            id,
            parent_id: parent,
        }
    }

    // q1 → a1 | a1b (regenerated) → q2 (under a1b) | q2b (edited) → a3
    fn tree() -> Vec<Node<'static>> {
        vec![
            n("q1", None),
            n("a1", Some("q1")),
            n("a1b", Some("q1")),
            n("q2", Some("a1b")),
            n("q2b", Some("a1b")),
            n("a3", Some("q2b")),
        ]
    }

    #[test]
    fn the_active_branch_runs_from_the_first_message_to_the_current_one() {
        let nodes = tree();
        let ids: Vec<&str> = branch(&nodes, Some("a3"))
            .into_iter()
            .map(|i| nodes[i].id)
            .collect();
        assert_eq!(ids, ["q1", "a1b", "q2b", "a3"]);
        assert!(branch(&nodes, None).is_empty());
        assert!(branch(&nodes, Some("gone")).is_empty());
    }

    #[test]
    fn versions_are_the_messages_under_the_same_parent() {
        let nodes = tree();
        assert_eq!(siblings(&nodes, 1), ["a1", "a1b"]);
        assert_eq!(siblings(&nodes, 4), ["q2", "q2b"]);
        assert_eq!(siblings(&nodes, 0), ["q1"]);
    }

    #[test]
    fn switching_to_a_version_continues_at_its_newest_leaf() {
        let nodes = tree();
        assert_eq!(newest_leaf(&nodes, "a1"), "a1");
        assert_eq!(newest_leaf(&nodes, "a1b"), "a3");
        assert_eq!(newest_leaf(&nodes, "q2"), "q2");
    }
}
